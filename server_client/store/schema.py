"""The local store's schema: ordered migration steps, applied once each, recorded in
``schema_version``.

Entity tables keep the keys of the pulled-entity shapes in ``library_core.events`` as columns
(same names), plus local bookkeeping columns (PIN failure counts, lock times, print status).
Money is integer fen. Times are ISO-8601 strings with offset; dates are ``YYYY-MM-DD``.
Booleans are 0/1 integers.

Never edit a step that has shipped: add a new one at the end.
"""

from __future__ import annotations

from typing import Final

SCHEMA_V1: Final = """
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- named gapless counters: outbox seq, card serial, visit number, receipt:<YYYY-MM-DD>
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE readers (
    reader_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    id_number     TEXT NOT NULL,
    phone         TEXT NOT NULL,
    category      TEXT NOT NULL CHECK (category IN ('adult','student','child','senior')),
    pin_hash      TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','cancelled')),
    credit        INTEGER NOT NULL DEFAULT 0,
    registered_at TEXT NOT NULL,
    -- local bookkeeping
    pin_failures  INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT
);
CREATE INDEX readers_id_number ON readers(id_number);

CREATE TABLE cards (
    card_no     TEXT PRIMARY KEY,
    reader_id   TEXT NOT NULL REFERENCES readers(reader_id),
    uid         TEXT NOT NULL,
    generation  INTEGER NOT NULL CHECK (generation >= 1),
    status      TEXT NOT NULL CHECK (status IN ('active','lost','replaced','cancelled')),
    issued_at   TEXT NOT NULL,
    expires_on  TEXT NOT NULL,
    -- local bookkeeping
    blocked_at  TEXT
);
CREATE INDEX cards_reader ON cards(reader_id);
CREATE INDEX cards_uid ON cards(uid);

CREATE TABLE items (
    barcode  TEXT PRIMARY KEY,
    title    TEXT NOT NULL,
    author   TEXT NOT NULL DEFAULT '',
    call_no  TEXT NOT NULL DEFAULT '',
    status   TEXT NOT NULL CHECK (status IN ('available','on_loan','lost')),
    hold     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE loans (
    loan_id      TEXT PRIMARY KEY,
    item_barcode TEXT NOT NULL REFERENCES items(barcode),
    reader_id    TEXT NOT NULL REFERENCES readers(reader_id),
    borrowed_at  TEXT NOT NULL,
    due_on       TEXT NOT NULL,
    returned_at  TEXT
);
CREATE INDEX loans_reader ON loans(reader_id);
-- at most one open loan per item
CREATE UNIQUE INDEX loans_open_item ON loans(item_barcode) WHERE returned_at IS NULL;

CREATE TABLE fees (
    fee_id       TEXT PRIMARY KEY,
    reader_id    TEXT NOT NULL REFERENCES readers(reader_id),
    kind         TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount >= 0),
    paid         INTEGER NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= amount),
    status       TEXT NOT NULL CHECK (status IN ('open','paid','waived')),
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    loan_id      TEXT,
    item_barcode TEXT
);
CREATE INDEX fees_reader ON fees(reader_id, status);

-- money in (kind 'payment') and out (kind 'refund'); amount always positive
CREATE TABLE payments (
    payment_id     TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('payment','refund')),
    reader_id      TEXT REFERENCES readers(reader_id),
    receipt_no     TEXT NOT NULL REFERENCES receipts(receipt_no),
    method         TEXT NOT NULL CHECK (method IN ('wechat','alipay','cash')),
    transaction_id TEXT NOT NULL DEFAULT '',
    amount         INTEGER NOT NULL CHECK (amount > 0),
    staff_no       TEXT,
    created_at     TEXT NOT NULL,
    day            TEXT NOT NULL
);
CREATE INDEX payments_day ON payments(day);

CREATE TABLE payment_allocations (
    payment_id TEXT NOT NULL REFERENCES payments(payment_id),
    fee_id     TEXT NOT NULL REFERENCES fees(fee_id),
    amount     INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (payment_id, fee_id)
);

-- the receipt journal
CREATE TABLE receipts (
    receipt_no       TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    day              TEXT NOT NULL,
    issued_at        TEXT NOT NULL,
    body             TEXT NOT NULL,            -- Receipt.to_json()
    print_status     TEXT NOT NULL DEFAULT 'pending'
                     CHECK (print_status IN ('pending','printed','failed')),
    print_message_id TEXT NOT NULL DEFAULT '',
    printed_at       TEXT
);
CREATE INDEX receipts_day ON receipts(day);

CREATE TABLE visitors (
    visit_id        TEXT PRIMARY KEY,
    visit_no        INTEGER NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    phone           TEXT NOT NULL,
    id_number       TEXT,
    purpose         TEXT NOT NULL,
    host_department TEXT NOT NULL,
    consent_at      TEXT NOT NULL,
    opened_at       TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    closed_at       TEXT,
    closed_how      TEXT CHECK (closed_how IN ('scanned','auto','staff')),
    pass_token      TEXT NOT NULL
);
CREATE INDEX visitors_open ON visitors(closed_at);

CREATE TABLE staff (
    staff_no     TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('desk','supervisor')),
    pin_hash     TEXT NOT NULL,
    card_no      TEXT UNIQUE,
    active       INTEGER NOT NULL DEFAULT 1,
    -- local bookkeeping
    pin_failures INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT
);

-- hash-chained: hash = sha256(prev_hash + canonical JSON of the row without hash)
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE TABLE outbox (
    event_id    TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending','applied','duplicate','conflict','rejected')),
    detail      TEXT NOT NULL DEFAULT '',
    rule        TEXT NOT NULL DEFAULT '',
    pushed_at   TEXT
);
CREATE INDEX outbox_pending ON outbox(status, priority DESC, seq);

CREATE TABLE days_closed (
    day       TEXT PRIMARY KEY,
    staff_no  TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    report    TEXT NOT NULL
);

CREATE TABLE fee_schedule (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
"""

SCHEMA_V3: Final = """
ALTER TABLE outbox ADD COLUMN contract_version INTEGER NOT NULL DEFAULT 1;

-- pulled rows the kiosk could not store, one per entity (the latest); reported on the next push
CREATE TABLE pull_quarantine (
    entity         TEXT NOT NULL,
    entity_id      TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    data           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    quarantined_at TEXT NOT NULL,
    reported_at    TEXT,
    PRIMARY KEY (entity, entity_id)
);
"""

def _mask_sql(col: str) -> str:
    """``library_core.identity.mask_resident_id`` / ``mask_mobile`` in SQL (first 3, last 4)."""
    return (f"CASE WHEN length({col}) < 8 THEN substr('********************', 1, length({col}))"
            f" ELSE substr({col}, 1, 3) || substr('********************', 1, length({col}) - 7)"
            f" || substr({col}, -4) END")


# Kiosks hold the least they need (issue 11.3): a reader row keeps the keyed hash of the ID
# number (``library_core.identity.id_number_hash``) and the masked ID number and phone; the
# clear columns and the PIN hash go (the server checks reader PINs). A migration has no library
# key, so the old rows' hashes come from the server: the pull cursor goes back to zero and the
# next pull rewrites every row. Pushed registrations in the outbox lose their number, phone and
# PIN hash the same way (``OutboxStore.record_push_results`` does it for new ones); the store
# is vacuumed after this step so the dropped values are not left in free pages.
SCHEMA_V4: Final = f"""
DROP INDEX readers_id_number;
ALTER TABLE readers ADD COLUMN id_hash TEXT;
ALTER TABLE readers ADD COLUMN id_masked TEXT NOT NULL DEFAULT '';
ALTER TABLE readers ADD COLUMN phone_masked TEXT NOT NULL DEFAULT '';
UPDATE readers SET id_masked = {_mask_sql("id_number")}, phone_masked = {_mask_sql("phone")};
ALTER TABLE readers DROP COLUMN id_number;
ALTER TABLE readers DROP COLUMN phone;
ALTER TABLE readers DROP COLUMN pin_hash;
ALTER TABLE readers DROP COLUMN pin_failures;
ALTER TABLE readers DROP COLUMN locked_until;
CREATE INDEX readers_id_hash ON readers(id_hash);
DELETE FROM kv WHERE key = 'pull_cursor';
UPDATE outbox SET payload = json_remove(json_set(payload,
    '$.id_number', {_mask_sql("json_extract(payload, '$.id_number')")},
    '$.phone', {_mask_sql("json_extract(payload, '$.phone')")}), '$.pin_hash')
 WHERE kind = 'reader.registered' AND status <> 'pending';
"""

# issue 13: see server_client.store.intents (the table's states and who moves them)
SCHEMA_V5: Final = """
CREATE TABLE payment_intents (
    out_trade_no   TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    reference      TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('open','paid','booked','reversed','failed',
                                                  'refunded','refund_failed')),
    transaction_id TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX payment_intents_state ON payment_intents(state);
"""

# Staff authority (issue 11.2, 11.3): no staff PIN hash on the kiosk (the server checks staff
# log-ins); offline verifiers (docs/security.md 5.4) with their own lockout count; each outbox
# event keeps the staff proof made when it was emitted. Vacuumed: the hashes leave no trace.
SCHEMA_STAFF_AUTHORITY: Final = """
ALTER TABLE staff DROP COLUMN pin_hash;
ALTER TABLE staff DROP COLUMN pin_failures;
ALTER TABLE staff DROP COLUMN locked_until;
ALTER TABLE outbox ADD COLUMN staff_proof TEXT;
CREATE TABLE staff_verifiers (
    verifier_id  TEXT PRIMARY KEY,
    staff_no     TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('desk','supervisor')),
    valid_until  TEXT NOT NULL,
    verifier     TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT
);
"""
STAFF_AUTHORITY_VERSION: Final = 8

# The ILS store-and-forward queue (issue 15, ``server_client.sip2.queue``): transactions the
# ILS could not answer, in order; one pending per kind and key; refused ones are the exception
# report for staff.
SCHEMA_ILS_QUEUE: Final = """
CREATE TABLE ils_queue (
    queue_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('checkin','fee_paid','block_patron')),
    key        TEXT NOT NULL,
    payload    TEXT NOT NULL,
    queued_at  TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending','forwarded','refused')),
    answer     TEXT NOT NULL DEFAULT '',
    settled_at TEXT
);
CREATE UNIQUE INDEX ils_queue_pending ON ils_queue(kind, key) WHERE status = 'pending';
CREATE INDEX ils_queue_status ON ils_queue(status, queue_id);
"""

# Visitors (issue 11.3, PIPL minimisation): the kiosk keeps a visitor's phone and optional ID
# number masked only (the pass, the roster and the receipt show no more); the clear values travel
# to the server in visit.opened and leave the outbox once it is answered
# (``outbox.scrubbed``), as a reader's registration does. Vacuumed.
SCHEMA_VISITORS_MASKED: Final = f"""
UPDATE visitors SET phone = {_mask_sql("phone")},
    id_number = CASE WHEN id_number IS NULL THEN NULL ELSE {_mask_sql("id_number")} END;
UPDATE outbox SET payload = json_set(payload,
    '$.phone', {_mask_sql("json_extract(payload, '$.phone')")},
    '$.id_number', CASE WHEN json_extract(payload, '$.id_number') IS NULL THEN NULL
                   ELSE {_mask_sql("json_extract(payload, '$.id_number')")} END)
 WHERE kind = 'visit.opened' AND status <> 'pending';
"""
VISITORS_MASKED_VERSION: Final = 9

# Payment recovery (issue 13): a trade the provider took for an action that never happened is
# booked (``payment.unapplied``) and refunded (``payment.refunded``); the intent keeps the ids
# of both rows it booked (``server_client.store.intents``) and gains the state ``unapplied``
# (booked, the refund still due). SQLite cannot widen a CHECK: the table is rebuilt.
SCHEMA_INTENT_BOOKINGS: Final = """
CREATE TABLE payment_intents_new (
    out_trade_no   TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    reference      TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('open','paid','booked','reversed','failed',
                                                  'refunded','refund_failed','unapplied')),
    transaction_id TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    payment_id     TEXT NOT NULL DEFAULT '',
    refund_id      TEXT NOT NULL DEFAULT ''
);
INSERT INTO payment_intents_new (out_trade_no, provider, amount, reference, state,
    transaction_id, detail, created_at, updated_at)
    SELECT out_trade_no, provider, amount, reference, state, transaction_id, detail,
           created_at, updated_at FROM payment_intents;
DROP TABLE payment_intents;
ALTER TABLE payment_intents_new RENAME TO payment_intents;
CREATE INDEX payment_intents_state ON payment_intents(state);
"""
INTENT_BOOKINGS_VERSION: Final = 10

# ILS PINs (issue 15): the wrong ILS PINs in a row of a reader only the library's ILS knows,
# counted by the kiosk's one lockout rule (``kiosk.services.pinlock``), keyed by the keyed hash
# of the ILS patron number (HMAC, library key; never the clear number).
SCHEMA_ILS_PIN_ATTEMPTS: Final = """
CREATE TABLE ils_pin_attempts (
    patron_hash  TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until TEXT
);
"""
ILS_PIN_ATTEMPTS_VERSION: Final = 11

VACUUM_AFTER: Final = frozenset({4, STAFF_AUTHORITY_VERSION, VISITORS_MASKED_VERSION})
"""Steps after which the store is vacuumed (values they dropped must not stay in free pages)."""

# (version, description, SQL script). Applied in order inside one transaction each.
MIGRATIONS: Final[tuple[tuple[int, str, str], ...]] = (
    (1, "initial schema", SCHEMA_V1),
    (2, "index loans by item for returns of items not on loan",
     "CREATE INDEX loans_item ON loans(item_barcode, returned_at);"),
    (3, "contract version per outbox event; pulled rows set aside (quarantine)", SCHEMA_V3),
    (4, "readers: keyed ID hash and masked forms only, no PIN hash (PIPL minimisation)",
     SCHEMA_V4),
    (5, "payment intents, committed before a payment provider is called", SCHEMA_V5),
    (7, "ILS store-and-forward queue (SIP2 transactions waiting, refused ones for staff)",
     SCHEMA_ILS_QUEUE),
    (STAFF_AUTHORITY_VERSION, "staff: no PIN hash (the server checks log-ins); offline "
     "verifiers; staff proofs", SCHEMA_STAFF_AUTHORITY),
    (VISITORS_MASKED_VERSION, "visitors: phone and ID number masked only (PIPL minimisation)",
     SCHEMA_VISITORS_MASKED),
    (INTENT_BOOKINGS_VERSION, "payment intents: unapplied payments and their refunds booked "
     "by the recovery", SCHEMA_INTENT_BOOKINGS),
    (ILS_PIN_ATTEMPTS_VERSION, "wrong ILS PINs of readers only the ILS knows, keyed by the "
     "patron number's keyed hash", SCHEMA_ILS_PIN_ATTEMPTS),
)

LATEST_VERSION: Final = MIGRATIONS[-1][0]

"""Database tables of the record server (SQLAlchemy Core; the migrations create them).

Money columns are integer fen. Times are ISO strings with an offset (portable across SQLite
and PostgreSQL); ``*_day`` columns hold the library-local date for reports.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

server_state = Table(
    "server_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("last_change_seq", BigInteger, nullable=False, default=0),
)

kiosks = Table(
    "kiosks", metadata,
    Column("kiosk_id", String(8), primary_key=True),
    Column("branch", String(32), nullable=False, default="main"),
    Column("token_hash", String(64), unique=True),
    Column("enroll_code_hash", String(64)),
    Column("enroll_expires_at", String(40)),
    Column("revoked_at", String(40)),
    Column("created_at", String(40), nullable=False),
    Column("next_seq", BigInteger, nullable=False, default=1),
    Column("last_push_at", String(40)),
    # assigned by the server at enrollment (auth.enroll_kiosk), 1..65535: the kiosk's ranges
    Column("kiosk_no", Integer),
    Column("name", String(64)),  # what the office calls it (the console's kiosks page)
    Index("uq_kiosks_kiosk_no", "kiosk_no", unique=True),
)

# the highest number each kiosk has used per range, as its pushed events show (ingest.numbering):
# name "card_serial" | "visit_no" | "receipt:<YYYY-MM-DD>"; value the kiosk's local counter
kiosk_numbers = Table(
    "kiosk_numbers", metadata,
    Column("kiosk_id", String(8), primary_key=True),
    Column("name", String(24), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

staff = Table(
    "staff", metadata,
    Column("staff_no", String(8), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("pin_hash", String(200), nullable=False),
    Column("card_no", String(14)),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked", Boolean, nullable=False, default=False),
    Column("locked_until", String(40)),  # PinLockout: None with locked = until unlocked (legacy)
    # the console's web password (never the PIN): scrypt, its own lockout, a one-time code
    Column("password_hash", String(200)),
    Column("password_failures", Integer, nullable=False, default=0),
    Column("password_locked_until", String(40)),
    Column("password_code_hash", String(64)),
    Column("password_code_expires_at", String(40)),
)

# log-in attempts per client and minute, shared by every server worker (auth.RateLimiter)
login_hits = Table(
    "login_hits", metadata,
    Column("bucket", String(200), primary_key=True),  # "<what>:<client address>"
    Column("minute", BigInteger, primary_key=True),  # epoch seconds // 60
    Column("hits", Integer, nullable=False),
    Index("ix_login_hits_minute", "minute"),
)

staff_sessions = Table(
    "staff_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_no", String(8), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

readers = Table(
    "readers", metadata,
    Column("reader_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("id_number", String(18), nullable=False, index=True),
    Column("phone", String(20), nullable=False),
    Column("category", String(16), nullable=False),
    Column("pin_hash", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("credit", BigInteger, nullable=False, default=0),
    Column("registered_at", String(40), nullable=False),
    Column("merged_into", String(64)),
    Column("kiosk_id", String(8)),
    # the keyed hash of the ID number (record_server.reader_hashes): the console's search
    Column("id_hash", String(64), index=True),
)

# One active reader per ID number, enforced by the database: two kiosks registering the same
# person at the same moment cannot both win (apply.reader_registered merges the later one).
ACTIVE_ID_NUMBER_WHERE = "status = 'active' AND merged_into IS NULL"
Index("uq_readers_active_id_number", readers.c.id_number, unique=True,
      postgresql_where=text(ACTIVE_ID_NUMBER_WHERE), sqlite_where=text(ACTIVE_ID_NUMBER_WHERE))

# a reader's PIN failures as the server counts them (replacement: POST .../reader-pin), by the
# one lockout policy (library_core.rules.PinLockout); a row only once a wrong PIN was given
reader_pin_state = Table(
    "reader_pin_state", metadata,
    Column("reader_id", String(64), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("locked_until", String(40)),
)

# a reader's proof, to the server, that they stood at a kiosk with their ID number and PIN: the
# reader-PIN check answers ``ok`` with a grant (only its SHA-256 kept here), and a lost-card
# block without staff or a replacement from that kiosk names it (ingest/grants.py)
reader_grants = Table(
    "reader_grants", metadata,
    Column("grant_hash", String(64), primary_key=True),
    Column("kiosk_id", String(64), nullable=False),
    Column("reader_id", String(64), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False, index=True),
)

cards = Table(
    "cards", metadata,
    Column("card_no", String(14), primary_key=True),
    Column("reader_id", String(64), nullable=False, index=True),
    Column("uid", String(40), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("expires_on", String(10), nullable=False),
)

items = Table(
    "items", metadata,
    Column("barcode", String(14), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("author", String(200), nullable=False, default=""),
    Column("call_no", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("hold", Boolean, nullable=False, default=False),
)

loans = Table(
    "loans", metadata,
    Column("loan_id", String(64), primary_key=True),
    Column("item_barcode", String(14), nullable=False, index=True),
    Column("reader_id", String(64), nullable=False),
    Column("borrowed_at", String(40), nullable=False),
    Column("due_on", String(10), nullable=False),
    Column("returned_at", String(40)),
    Column("renewals", Integer, nullable=False, default=0),
    Column("fine_allowed", BigInteger),
)

fees = Table(
    "fees", metadata,
    Column("fee_id", String(64), primary_key=True),
    Column("reader_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid", BigInteger, nullable=False, default=0),
    Column("status", String(16), nullable=False),
    Column("description", String(300), nullable=False, default=""),
    Column("created_at", String(40), nullable=False),
    Column("loan_id", String(64)),
    Column("item_barcode", String(14)),
)

payments = Table(
    "payments", metadata,
    Column("payment_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # payment | refund
    Column("reader_id", String(64)),
    Column("receipt_no", String(32), nullable=False, unique=True),
    Column("method", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("credited", BigInteger, nullable=False, default=0),
    Column("kiosk_id", String(8), nullable=False),
    Column("staff_no", String(8)),
    Column("occurred_at", String(40), nullable=False),
    Column("occurred_day", String(10), nullable=False, index=True),
    # the provider's transaction id and the kiosk's out-trade-number (reconciliation)
    Column("transaction_id", String(64), index=True),
    Column("out_trade_no", String(64), index=True),  # a trade booked once (ingest.trades)
)

credit_entries = Table(
    "credit_entries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reader_id", String(64), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("rule", String(64), nullable=False),
    Column("event_id", String(36)),
    Column("created_at", String(40), nullable=False),
)

visits = Table(
    "visits", metadata,
    Column("visit_id", String(64), primary_key=True),
    Column("kiosk_id", String(8), nullable=False),
    Column("name", String(100), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("id_number", String(18)),
    Column("purpose", String(200), nullable=False),
    Column("host_department", String(100), nullable=False),
    Column("opened_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("closed_at", String(40)),
    Column("how", String(16)),
    Column("purged_at", String(40)),  # personal data removed after the retention period
    # the dashboard's visitors on site now (console.today_report); readers have
    # ix_readers_name_prefix too, made by migration 0019 alone (PostgreSQL: COLLATE "C")
    Index("ix_visits_open_expires", "expires_at", postgresql_where=text("closed_at IS NULL"),
          sqlite_where=text("closed_at IS NULL")),
)

events = Table(
    "events", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("kiosk_id", String(8), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("occurred_day", String(10), nullable=False),
    Column("received_at", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rule", String(64)),
    Column("detail", String(300)),
    Column("payload", Text, nullable=False),
    UniqueConstraint("kiosk_id", "seq", name="uq_events_kiosk_seq"),
    Index("ix_events_day_kind", "occurred_day", "kind"),
)

conflicts = Table(
    "conflicts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False, index=True),
    Column("kiosk_id", String(8)),
    Column("event_id", String(36)),
    Column("entity", String(16), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("decision", String(300), nullable=False),
    Column("detail", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("resolved", Boolean, nullable=False, default=False),
)

desk_actions = Table(
    "desk_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("staff_no", String(8), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", String(40), nullable=False),
)

changes = Table(
    "changes", metadata,
    Column("entity", String(16), primary_key=True),
    Column("entity_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("data", Text, nullable=False),
)

# each kiosk's device status as its last push reported it (one row per kiosk, upserted once per
# push by record_server.kiosk_status; the console's dashboard reads it)
kiosk_status = Table(
    "kiosk_status", metadata,
    Column("kiosk_id", String(8), primary_key=True),
    Column("received_at", String(40), nullable=False),  # the server's clock
    Column("reported_at", String(40), nullable=False),  # the kiosk's clock
    Column("software_version", String(32), nullable=False),
    Column("card_reader", String(16), nullable=False),
    Column("printer_online", Boolean, nullable=False),
    Column("printer_paper", String(16), nullable=False),
    Column("printer_cover_open", Boolean, nullable=False),
    Column("scanner", String(16), nullable=False),
    Column("pending_events", BigInteger, nullable=False, default=0),
    Column("last_sync_error", String(200), nullable=False, default=""),
    # the ILS link of a SIP2 kiosk (issue 15.3; migration 0015); ils_state NULL: no ILS
    Column("ils_state", String(8)),
    Column("ils_last_error", String(64), nullable=False, server_default=""),
    Column("ils_last_error_detail", String(200), nullable=False, server_default=""),
    Column("ils_last_error_at", String(40)),
    Column("ils_queued", BigInteger),
)

# how a review item (a conflict, a rejected event) was resolved in the console, by whom
review_resolutions = Table(
    "review_resolutions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_kind", String(16), nullable=False),  # conflict | rejected
    Column("item_id", String(64), nullable=False),  # conflicts.id or events.event_id
    Column("decision", String(16), nullable=False),  # upheld | overruled | noted
    Column("note", String(300), nullable=False),
    Column("staff_no", String(8), nullable=False),
    Column("at", String(40), nullable=False),
    UniqueConstraint("item_kind", "item_id", name="uq_review_resolutions_item"),
)

# each run of the visitor retention purge (record_server.console.visitor_purge)
visitor_purges = Table(
    "visitor_purges", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("cutoff", String(40), nullable=False),
    Column("retention_days", Integer, nullable=False),
    Column("visits", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("by", String(16), nullable=False),  # timer | cli | a staff number
)

# a browser's console session (record_server.console.sessions): the cookie's token hashed, the
# CSRF token of its forms, the idle clock (last_seen_at) and the hard end (expires_at)
console_sessions = Table(
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_no", String(8), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("last_seen_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

# every change made in the console, and every reveal of a full ID number or phone
# (record_server.console.audit): who, when, what, before and after (JSON)
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("day", String(10), nullable=False, index=True),
    Column("staff_no", String(8), nullable=False),
    Column("action", String(48), nullable=False),
    Column("target", String(64), nullable=False, default=""),
    Column("reader_id", String(64)),
    Column("kiosk_id", String(8)),
    Column("before", Text, nullable=False, default="{}"),
    Column("after", Text, nullable=False, default="{}"),
    Column("reason", String(300), nullable=False, default=""),
)

# each import of readers or items (record_server.imports.jobs): its dry run, then its commit,
# run as a background job; the page polls its phase and progress (done of total rows)
import_jobs = Table(
    "import_jobs", metadata,
    Column("job_id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # readers | items | marc
    Column("file_name", String(200), nullable=False),
    Column("options", Text, nullable=False, default="{}"),  # MARC flavour and fields (JSON)
    Column("staff_no", String(8), nullable=False),
    # checking | checked | refused | writing | done | failed
    Column("status", String(16), nullable=False),
    Column("total", BigInteger, nullable=False, default=0),
    Column("done", BigInteger, nullable=False, default=0),
    Column("good_rows", BigInteger, nullable=False, default=0),
    Column("error_count", BigInteger, nullable=False, default=0),
    Column("errors", Text, nullable=False, default="[]"),  # the first MAX_LISTED_ERRORS (JSON)
    Column("encoding", String(16), nullable=False, default=""),
    Column("reason", String(300), nullable=False, default=""),  # why refused or failed
    Column("counts", Text, nullable=False, default="{}"),  # what the commit wrote (JSON)
    Column("created_at", String(40), nullable=False),
    Column("finished_at", String(40)),
)

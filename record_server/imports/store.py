"""An import against the database: the rows that clash with what it holds (a barcode, an
active reader's ID number, a card number or an active card's UID already there), and the write
of every row in the caller's one transaction, published to the kiosks' change log.

Large imports: the existence checks ask for 20,000 keys per query (``= ANY`` of an array on
PostgreSQL); the rows and their change-log snapshots go in with ``COPY`` on PostgreSQL and
``executemany`` in batches on SQLite. Every row of an import is new, so each gets its snapshot
and a fresh change sequence number here, as ``changes.publish`` would give it (same JSON), without
reading the rows back.

Imported readers get no PIN: ``pin_hash`` holds ``NO_PIN``, which no PIN matches (the column is
required; a reader sets a PIN at the desk). Their ID numbers are stored as the ingest stores a
kiosk's registration: the clear number in ``readers.id_number`` (the kiosks get only the keyed
hash and the masked number, ``changes.kiosk_reader``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from library_core.contract import entity_columns
from library_core.fees import FeeSchedule
from library_core.rules import new_card_expiry
from record_server import models as m
from record_server import reader_hashes
from record_server.changes import READER_SNAPSHOT
from record_server.db import allocate_seq_block
from record_server.imports.rows import Checked, ItemRow, ReaderRow, RowError

NO_PIN = "!no-pin"  # not a scrypt hash: verify_pin is False for every PIN (as for auditors)
CHUNK = 20_000  # keys per existence query
BATCH = 10_000
Progress = Callable[[int], None]
ITEM_SNAPSHOT = entity_columns("item")
CARD_SNAPSHOT = entity_columns("card")


def existing(conn: Connection, column: Any, values: Sequence[str], *,
             where: Any = None) -> set[str]:
    """The ``values`` that ``column`` already holds (rows matching ``where``, if given)."""
    pg = conn.dialect.name == "postgresql"
    if pg:
        cond = column == any_(bindparam("v", type_=ARRAY(String())))
    else:
        cond = column.in_(bindparam("v", expanding=True))
    stmt = select(column).where(cond)
    if where is not None:
        stmt = stmt.where(where)
    found: set[str] = set()
    for start in range(0, len(values), CHUNK):
        found.update(str(v) for v in conn.execute(
            stmt, {"v": list(values[start:start + CHUNK])}).scalars())
    return found


def _drop(checked: Checked, bad: dict[int, RowError]) -> None:
    checked.errors.extend(sorted(bad.values(), key=lambda e: e.line))
    checked.errors.sort(key=lambda e: e.line)
    checked.items = [r for r in checked.items if r.line not in bad]
    checked.readers = [r for r in checked.readers if r.line not in bad]


def check_against_db(conn: Connection, checked: Checked) -> None:
    """Add the rows that clash with the database to ``checked.errors`` (and drop them)."""
    bad: dict[int, RowError] = {}
    if checked.items:
        taken = existing(conn, m.items.c.barcode, [r.barcode for r in checked.items])
        for item in checked.items:
            if item.barcode in taken:
                bad[item.line] = RowError(item.line, "barcode", "barcode_exists", item.barcode)
    if checked.readers:
        rc = m.readers.c
        ids = existing(conn, rc.id_number, [r.id_number for r in checked.readers],
                       where=(rc.status == "active") & rc.merged_into.is_(None))
        with_card = [r for r in checked.readers if r.card_no]
        cards = existing(conn, m.cards.c.card_no, [r.card_no for r in with_card])
        uids = existing(conn, m.cards.c.uid, [r.card_uid for r in with_card],
                        where=m.cards.c.status == "active")
        for r in checked.readers:
            if r.id_number in ids:
                bad[r.line] = RowError(r.line, "id_number", "id_number_exists")
            elif r.card_no in cards:
                bad[r.line] = RowError(r.line, "card_no", "card_no_exists", r.card_no)
            elif r.card_no and r.card_uid in uids:
                bad[r.line] = RowError(r.line, "card_uid", "card_uid_exists", r.card_uid)
    _drop(checked, bad)


def _copy(conn: Connection, table: str, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> None:
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert(conn: Connection, table: Any, columns: Sequence[str],
            rows: Sequence[Sequence[Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table.name, columns, rows)
    else:
        conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])


# the JSON of changes.publish (json.dumps with these options), one encoder for every row
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def _snapshot(entity: str, key: str, data: dict[str, Any], seq: int) -> tuple[Any, ...]:
    return (entity, key, seq, _ENCODE(data))


_CHANGE_COLS = ("entity", "entity_id", "seq", "data")
_SET_LAST = update(m.server_state).where(m.server_state.c.id == 1).values(
    last_change_seq=bindparam("seq"))


# an available item's snapshot, exactly as ``_ENCODE`` writes it (keys sorted, ", " and ": "),
# filled with JSON strings: a million rows without building and sorting a dict each
_ITEM_JSON = ('{{"author": {author}, "barcode": {barcode}, "call_no": {call_no}, '
              '"hold": false, "status": "available", "title": {title}}}')
_JSON_STR = json.encoder.encode_basestring


def item_snapshot_json(r: ItemRow) -> str:
    """An imported item's change-log JSON (``changes.publish``'s for the same row)."""
    return _ITEM_JSON.format(author=_JSON_STR(r.author), barcode=_JSON_STR(r.barcode),
                             call_no=_JSON_STR(r.call_no), title=_JSON_STR(r.title))


def write_items(conn: Connection, rows: Sequence[ItemRow], progress: Progress) -> int:
    """Insert every item (``available``, no hold) and its change; returns how many."""
    seq = allocate_seq_block(conn)
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        _insert(conn, m.items, ITEM_SNAPSHOT,
                [(r.barcode, r.title, r.author, r.call_no, "available", False) for r in batch])
        _insert(conn, m.changes, _CHANGE_COLS,
                [("item", r.barcode, seq + i, item_snapshot_json(r))
                 for i, r in enumerate(batch, start=1)])
        seq += len(batch)
        progress(start + len(batch))
    conn.execute(_SET_LAST, {"seq": seq})
    return len(rows)


def write_item_batches(conn: Connection, batches: Iterable[Checked],
                       progress: Progress) -> tuple[int, list[RowError]]:
    """Check each batch against the database and write it (items and changes) while the next
    is read; after the first error nothing more is written but every later error is still
    listed. Returns (items written, errors): with errors the caller rolls the transaction
    back, so all or nothing."""
    seq = allocate_seq_block(conn)
    errors: list[RowError] = []
    written = 0
    for part in batches:
        check_against_db(conn, part)
        errors.extend(part.errors)
        if errors or not part.items:
            continue
        rows = part.items
        _insert(conn, m.items, ITEM_SNAPSHOT,
                [(r.barcode, r.title, r.author, r.call_no, "available", False) for r in rows])
        _insert(conn, m.changes, _CHANGE_COLS,
                [("item", r.barcode, seq + i, item_snapshot_json(r))
                 for i, r in enumerate(rows, start=1)])
        seq += len(rows)
        written += len(rows)
        progress(written)
    if not errors:
        conn.execute(_SET_LAST, {"seq": seq})
    return written, sorted(errors, key=lambda e: e.line)


def write_readers(conn: Connection, rows: Sequence[ReaderRow], *, now: dt.datetime,
                  schedule: FeeSchedule, progress: Progress) -> tuple[int, int]:
    """Insert every reader (active, no PIN, no credit) and their card; returns (readers,
    cards)."""
    seq = allocate_seq_block(conn)
    at = now.isoformat()
    default_expiry = new_card_expiry(schedule, now.date()).isoformat()
    reader_cols = ("reader_id", "name", "id_number", "phone", "category", "pin_hash",
                   "status", "credit", "registered_at", "id_hash")
    n_cards = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        readers, cards, changes = [], [], []
        for r in batch:
            reader_id = str(uuid.uuid4())
            row = (reader_id, r.name, r.id_number, r.phone, r.category, NO_PIN, "active", 0, at,
                   reader_hashes.of(conn, r.id_number))
            readers.append(row)
            data = dict(zip(reader_cols, row, strict=True))
            seq += 1
            changes.append(_snapshot("reader", reader_id,
                                     {k: data[k] for k in READER_SNAPSHOT}, seq))
            if r.card_no:
                card = (r.card_no, reader_id, r.card_uid, 1, "active", at,
                        r.expires_on or default_expiry)
                cards.append(card)
                seq += 1
                changes.append(_snapshot("card", r.card_no,
                                         dict(zip(CARD_SNAPSHOT, card, strict=True)), seq))
        _insert(conn, m.readers, reader_cols, readers)
        _insert(conn, m.cards, CARD_SNAPSHOT, cards)
        _insert(conn, m.changes, _CHANGE_COLS, changes)
        n_cards += len(cards)
        progress(start + len(batch))
    conn.execute(_SET_LAST, {"seq": seq})
    return len(rows), n_cards

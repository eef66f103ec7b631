"""The change log that kiosks pull: one row per entity holding its latest snapshot.

Each write gives the touched entities a new server sequence number; a pull returns entities whose
sequence is above the cursor, in order, so a new kiosk builds its replica from zero and an old
one catches up. Blocked cards above the cursor are put at the head of a page. Every page says
the contract version it speaks (``library_core.contract.CONTRACT_VERSION``).

Kiosks hold the least they need: the reader snapshot kept here is the server's own (with the
clear ID number and phone, never the PIN hash), and ``page`` hands a kiosk each reader as
``library_core.contract.ReaderEntity`` (``kiosk_reader``): the keyed hash of the ID number (the
library key), the masked ID number and phone. A snapshot stored before this (one with
``pin_hash``) is cut down the same way.

A kiosk that cannot store a pulled row sets it aside and says so on its next push
(``record_quarantined``): each report becomes an open conflict with rule ``pull_quarantined``,
listed by ``GET /api/v1/conflicts?rule=pull_quarantined``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from library_core.contract import CONTRACT_VERSION, ENTITY_KEYS, QuarantinedRow, entity_columns
from library_core.fees import FeeSchedule
from library_core.identity import id_number_hash, mask_mobile, mask_resident_id
from record_server import bulk
from record_server import models as m
from record_server.db import allocate_seq_block

_TABLES = {"reader": m.readers, "card": m.cards, "item": m.items, "loan": m.loans,
           "fee": m.fees, "staff": m.staff}
# entity -> (table, key column, snapshot columns): the fields of the contract's entity models
_SNAPSHOT_COLUMNS: dict[str, tuple[Any, Any, tuple[str, ...]]] = {
    entity: (table, table.c[ENTITY_KEYS[entity]], entity_columns(entity))
    for entity, table in _TABLES.items() if entity != "reader"
}
# a reader's snapshot: what the server needs to make the kiosk's entity (``kiosk_reader``)
READER_SNAPSHOT = ("reader_id", "name", "id_number", "phone", "category", "status", "credit",
                   "registered_at")
_SNAPSHOT_COLUMNS["reader"] = (m.readers, m.readers.c.reader_id, READER_SNAPSHOT)
_READER_KEPT = tuple(c for c in entity_columns("reader")
                     if c not in ("id_hash", "id_masked", "phone_masked"))
PRIORITY_HEAD_LIMIT = 200
# prebuilt statements: building and hashing one per call cost more than running it
_SNAPSHOT_SELECTS = {
    entity: select(*(table.c[c] for c in cols)).where(key.in_(bindparam("ids", expanding=True)))
    for entity, (table, key, cols) in _SNAPSHOT_COLUMNS.items()
}
_UPSERTS: dict[str, Any] = {}
_SET_LAST_SEQ = (update(m.server_state).where(m.server_state.c.id == 1)
                 .values(last_change_seq=bindparam("seq")))


def snapshots(conn: Connection, entity: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    table, key, cols = _SNAPSHOT_COLUMNS[entity]
    out: dict[str, dict[str, Any]] = {}
    id_list = list(ids)
    for start in range(0, len(id_list), 500):
        chunk = id_list[start:start + 500]
        rows = conn.execute(_SNAPSHOT_SELECTS[entity], {"ids": chunk})
        for row in rows:
            data = dict(row._mapping)
            if "hold" in data:
                data["hold"] = bool(data["hold"])
            if "active" in data:
                data["active"] = bool(data["active"])
            out[str(data[cols[0]])] = data
    return out


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = conn.dialect.name
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        mod: Any = postgresql if dialect == "postgresql" else sqlite
        stmt = mod.insert(m.changes)
        stmt = _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=[m.changes.c.entity, m.changes.c.entity_id],
            set_={"seq": stmt.excluded.seq, "data": stmt.excluded.data},
        )
    bulk.insert_many(conn, m.changes, rows, stmt=stmt)


def publish(conn: Connection, touched: dict[str, set[str]], *,
            fee_schedule: FeeSchedule | None = None, base: int | None = None) -> int:
    """Give every touched entity a new sequence number and store its snapshot; returns the last.

    ``base`` is the counter value already locked by this transaction (allocate_seq_block).
    """
    seq = allocate_seq_block(conn) if base is None else base
    rows: list[dict[str, Any]] = []
    for entity in ("staff", "item", "reader", "card", "loan", "fee"):
        ids = touched.get(entity)
        if not ids:
            continue
        for entity_id, data in sorted(snapshots(conn, entity, ids).items()):
            seq += 1
            rows.append({"entity": entity, "entity_id": entity_id, "seq": seq,
                         "data": json.dumps(data, ensure_ascii=False, sort_keys=True)})
    if fee_schedule is not None:
        seq += 1
        rows.append({"entity": "fee_schedule", "entity_id": "current", "seq": seq,
                     "data": json.dumps(fee_schedule.to_dict(), sort_keys=True)})
    _upsert(conn, rows)
    conn.execute(_SET_LAST_SEQ, {"seq": seq})
    return seq


def publish_document(conn: Connection, entity: str, entity_id: str,
                     data: dict[str, Any]) -> int:
    """Publish one document-like change (a dated fee schedule, ``from:<date>``) at the next
    sequence number; returns it."""
    seq = allocate_seq_block(conn) + 1
    _upsert(conn, [{"entity": entity, "entity_id": entity_id, "seq": seq,
                    "data": json.dumps(data, ensure_ascii=False, sort_keys=True)}])
    conn.execute(_SET_LAST_SEQ, {"seq": seq})
    return seq


def kiosk_reader(data: dict[str, Any], library_key: bytes) -> dict[str, Any]:
    """A reader snapshot as a kiosk may hold it (``ReaderEntity``): the contract's fields only,
    the ID number as its keyed hash and masked, the phone masked; nothing else passes."""
    id_number = str(data.get("id_number") or "")
    out = {c: data[c] for c in _READER_KEPT if c in data}
    out["id_hash"] = id_number_hash(id_number, library_key)
    out["id_masked"] = mask_resident_id(id_number)
    out["phone_masked"] = mask_mobile(str(data.get("phone") or ""))
    return out


def _for_kiosk(entity: str, data: Any, library_key: bytes) -> Any:
    return kiosk_reader(data, library_key) if entity == "reader" else data


_PAGE = (select(m.changes.c.seq, m.changes.c.entity, m.changes.c.entity_id, m.changes.c.data)
         .where(m.changes.c.seq > bindparam("cursor")).order_by(m.changes.c.seq)
         .limit(bindparam("limit")))
_BLOCKED_LATER = (
    select(m.changes.c.seq, m.changes.c.entity, m.changes.c.entity_id, m.changes.c.data)
    .join(m.cards, m.cards.c.card_no == m.changes.c.entity_id)
    .where(m.changes.c.entity == "card", m.changes.c.seq > bindparam("cursor"),
           m.cards.c.status.in_(("lost", "cancelled")))
    .order_by(m.changes.c.seq).limit(PRIORITY_HEAD_LIMIT))
FRAGMENTS_KEPT = 1024  # ~1 MB: more than every kiosk pulls in one 5 s round (bench 5: ~400)


@functools.lru_cache(maxsize=FRAGMENTS_KEPT)
def _fragment(seq: int, entity: str, entity_id: str, data: str, library_key: bytes
              ) -> tuple[str, bool]:
    """One change as the JSON a kiosk gets, and whether it is a blocked card.

    Every kiosk pulls the same recent changes, so each is parsed, cut down (``kiosk_reader``:
    the ID number's keyed hash is an HMAC) and written once, not once per kiosk (bench 5: 200
    kiosks). Keyed by the stored row itself, so a changed row is never answered from here."""
    parsed = json.loads(data)
    change = {"seq": seq, "entity": entity, "id": entity_id,
              "data": _for_kiosk(entity, parsed, library_key)}
    blocked = entity == "card" and parsed.get("status") in ("lost", "cancelled")
    return json.dumps(change, ensure_ascii=False, separators=(",", ":")), blocked


def page_json(conn: Connection, cursor: int, limit: int, *, library_key: bytes) -> bytes:
    """``page`` as the JSON body of a ``ChangesPage``, written from each change's fragment."""
    rows = conn.execute(_PAGE, {"cursor": cursor, "limit": limit + 1}).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = rows[-1].seq if rows else cursor
    body = [_fragment(r.seq, r.entity, r.entity_id, r.data, library_key) for r in rows]
    head: list[str] = []
    if more:  # blocked cards waiting beyond this page go first
        head = [_fragment(r.seq, r.entity, r.entity_id, r.data, library_key)[0]
                for r in conn.execute(_BLOCKED_LATER, {"cursor": next_cursor})]
    blocked = [text for text, is_blocked in body if is_blocked]
    rest = [text for text, is_blocked in body if not is_blocked]
    return (f'{{"changes":[{",".join(head + blocked + rest)}],"next_cursor":{int(next_cursor)},'
            f'"more":{"true" if more else "false"},'
            f'"contract_version":{int(CONTRACT_VERSION)}}}').encode()


def page(conn: Connection, cursor: int, limit: int, *, library_key: bytes) -> dict[str, Any]:
    """Changes above ``cursor``: blocked cards first, then up to ``limit`` in sequence order;
    readers as a kiosk may hold them (``kiosk_reader``, keyed with ``library_key``)."""
    return dict(json.loads(page_json(conn, cursor, limit, library_key=library_key)))


QUARANTINE_RULE = "pull_quarantined"


def record_quarantined(conn: Connection, *, kiosk_id: str, rows: Iterable[QuarantinedRow],
                       at: str) -> int:
    """Record a kiosk's report of pulled rows it set aside; returns how many were new.

    One open conflict per (kiosk, entity, key, change seq, reason): a report sent again (a push
    retried after a lost answer) records nothing more.
    """
    c = m.conflicts.c
    new = 0
    for row in rows:
        detail = {"seq": row.seq, "reason": row.reason, "quarantined_at": row.quarantined_at}
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        seen = conn.execute(select(c.id).where(
            c.rule == QUARANTINE_RULE, c.kiosk_id == kiosk_id, c.entity == row.entity,
            c.entity_id == row.entity_id, c.detail == text)).first()
        if seen is not None:
            continue
        conn.execute(insert(m.conflicts).values(
            rule=QUARANTINE_RULE, kiosk_id=kiosk_id, event_id=None, entity=row.entity,
            entity_id=row.entity_id, decision=f"kiosk set the pulled row aside: {row.reason}"[:300],
            detail=text, created_at=at, resolved=False))
        new += 1
    return new

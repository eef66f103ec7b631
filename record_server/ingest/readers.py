"""Handler for readers registering at a kiosk (one active reader per ID number)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from library_core import contract as c
from library_core.ages import claimed_category_refusal, guardian_refusal
from library_core.identity import birth_date_from_id
from library_core.rules import PIN_HASH_MIN_N, ReaderRecord, holder_of_id_number, pin_hash_refusal
from record_server import models as m
from record_server import reader_hashes
from record_server.ingest import rowcache
from record_server.ingest.context import Context, Reject
from record_server.ingest.rules import RULE_SAME_ID_NUMBER
from record_server.ingest.statements import by_key, insert_into

log = logging.getLogger(__name__)

ENV_PIN_MIN_N = "RECORD_SERVER_PIN_MIN_N"
"""The least scrypt cost (n) of a PIN hash the server stores; default ``PIN_HASH_MIN_N`` (the
kiosk's own default). Tests that hash with a cheap cost lower it; nothing lowers the format."""


def pin_min_n() -> int:
    """The server's minimum scrypt cost for a stored PIN hash (``RECORD_SERVER_PIN_MIN_N``)."""
    raw = os.environ.get(ENV_PIN_MIN_N)
    return int(raw) if raw and raw.isdigit() else PIN_HASH_MIN_N

_BY_ID_NUMBER = select(
    m.readers.c.reader_id, m.readers.c.status, m.readers.c.registered_at,
    m.readers.c.merged_into).where(m.readers.c.id_number == bindparam("id_number"))


def _holder(conn: Connection, id_number: str, *, cached: bool = True) -> ReaderRecord | None:
    """The reader this ID number belongs to: the kiosk's rule (library_core.rules). ``cached``:
    what the batch's row cache knows first (none, or a reader this batch registered)."""
    cache = rowcache.current(conn) if cached else None
    known: Any = rowcache.MISSING if cache is None else cache.holder(id_number)
    if known is None:
        return None
    if known is not rowcache.MISSING:
        return ReaderRecord(known.reader_id, known.status, str(known.registered_at),
                            known.merged_into)
    return holder_of_id_number(
        ReaderRecord(r.reader_id, r.status, str(r.registered_at), r.merged_into)
        for r in conn.execute(_BY_ID_NUMBER, {"id_number": id_number}))


# PostgreSQL: an active reader is inserted unless another with the same ID number is already
# there (committed by a concurrent batch of another kiosk: the insert waits for it, then does
# nothing). The partial unique index ``uq_readers_active_id_number`` is the arbiter.
_INSERT_ACTIVE_READER_PG = (
    pg_insert(m.readers)
    .on_conflict_do_nothing(index_elements=[m.readers.c.id_number],
                            index_where=text(m.ACTIVE_ID_NUMBER_WHERE))
    .returning(m.readers.c.reader_id))


def _age_refusal(p: c.ReaderRegistered) -> str | None:
    """The kiosk's age rules (``library_core.ages``) on the day of registration: a child or
    senior category the birth date does not give (``category_age``), an under-14 without a
    guardian's phone (``guardian_required``)."""
    birth = birth_date_from_id(p.id_number)
    if birth is None:
        return "id_number_invalid"
    day = dt.date.fromisoformat(p.registered_at[:10])  # the kiosk's own date of registration
    refusal = claimed_category_refusal(p.category, birth, day) or guardian_refusal(
        birth, day, guardian_phone=p.guardian_phone)
    return refusal.replace(".", "_") if refusal is not None else None


def reader_registered(ctx: Context, p: c.ReaderRegistered) -> None:
    conn = ctx.conn
    refusal = pin_hash_refusal(p.pin_hash, min_n=pin_min_n())  # the server decides the strength
    if refusal is not None:
        raise Reject(refusal)
    refusal = _age_refusal(p)
    if refusal is not None:
        raise Reject(refusal)
    if by_key(conn, m.readers, m.readers.c.reader_id, p.reader_id) is not None:
        raise Reject("reader_exists")
    first = _holder(conn, p.id_number)
    row = dict(reader_id=p.reader_id, name=p.name, id_number=p.id_number, phone=p.phone,
               category=p.category, pin_hash=p.pin_hash, status="active", credit=0,
               registered_at=p.registered_at, merged_into=None, kiosk_id=ctx.kiosk_id,
               id_hash=reader_hashes.of(conn, p.id_number))
    if first is None:
        if conn.dialect.name != "postgresql":
            insert_into(conn, m.readers, row)  # SQLite: one writer at a time, the check above holds
            ctx.touch("reader", p.reader_id)
            return
        if conn.execute(_INSERT_ACTIVE_READER_PG, row).first() is not None:
            ctx.touch("reader", p.reader_id)
            return
        # the unique index refused it: another kiosk's batch registered this ID number
        # meanwhile (committed now, so visible to this statement): that reader came first
        first = _holder(conn, p.id_number, cached=False)
        if first is None:
            raise Reject("id_number_taken")
        log.info("reader %s: ID number registered concurrently as %s", p.reader_id,
                 first.reader_id)
    insert_into(conn, m.readers, dict(row, status="cancelled", merged_into=first.reader_id))
    ctx.touch("reader", p.reader_id)
    ctx.conflict(RULE_SAME_ID_NUMBER, "reader", first.reader_id,
                 f"reader {p.reader_id} merged into {first.reader_id}",
                 kept=first.reader_id, merged=p.reader_id)


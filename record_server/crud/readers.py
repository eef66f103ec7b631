"""A reader's PIN, checked by the server for a kiosk (replacement of a lost card).

Kiosks hold no reader's PIN hash: a kiosk sends the reader id it found by the keyed hash of the
ID number, the ID number as typed and the PIN; the server checks that the ID number is that
active reader's and the PIN against its own hash. Wrong PINs are counted per reader by the one
lockout policy (``library_core.rules.PinLockout``): every fifth in a row locks, for longer each
time; a right PIN clears the count. While locked the PIN is not even tried.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, delete, insert, select, update

from library_core.identity import normalize_resident_id
from library_core.pins import verify_pin
from library_core.rules import PinLockout
from record_server import models as m
from record_server.crud.errors import NotFound
from record_server.db import Database
from record_server.grants import issue_grant

log = logging.getLogger(__name__)
LOCKOUT = PinLockout()  # the one policy (the kiosk's and the staff log-in's)
_DUMMY_HASH = "scrypt$16384$8$1$00$00"


@dataclass(frozen=True, slots=True)
class PinAnswer:
    result: Literal["ok", "wrong", "locked"]
    attempts_left: int = 0
    minutes: int = 0
    grant: str = ""  # ok: the reader's grant for this kiosk (record_server/grants.py)


def _state(conn: Connection, reader_id: str, *, lock: bool = False) -> tuple[int, dt.datetime | None]:
    stmt = select(m.reader_pin_state.c.failures, m.reader_pin_state.c.locked_until).where(
        m.reader_pin_state.c.reader_id == reader_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        return 0, None
    until = dt.datetime.fromisoformat(row.locked_until) if row.locked_until else None
    return int(row.failures), until


def _locked_answer(until: dt.datetime | None, now: dt.datetime) -> PinAnswer | None:
    if until is not None and LOCKOUT.locked(until, now):
        return PinAnswer("locked", 0, LOCKOUT.minutes_left(until, now))
    return None


def check_reader_pin(db: Database, *, kiosk_id: str, reader_id: str, id_number: str, pin: str,
                     now: dt.datetime) -> PinAnswer:
    """Check ``pin`` for the active reader ``reader_id`` whose ID number is ``id_number``.

    Raises NotFound (nothing counted) when no active reader has that id and ID number: a
    forged or unknown reader, or one cancelled or merged into another.
    """
    with db.read() as conn:
        row = conn.execute(select(m.readers.c.id_number, m.readers.c.pin_hash,
                                  m.readers.c.status, m.readers.c.merged_into)
                           .where(m.readers.c.reader_id == reader_id)).first()
        same = row is not None and hmac.compare_digest(
            normalize_resident_id(id_number).encode(), str(row.id_number).encode())
        if row is None or not same or row.status != "active" or row.merged_into is not None:
            verify_pin(pin, _DUMMY_HASH)  # the same work either way
            raise NotFound("no active reader with this reader id and ID number")
        _failures, until = _state(conn, reader_id)
    locked = _locked_answer(until, now)
    if locked is not None:
        return locked
    ok = verify_pin(pin, str(row.pin_hash))  # slow: outside the write transaction
    with db.write() as conn:
        failures, until = _state(conn, reader_id, lock=True)
        locked = _locked_answer(until, now)  # a parallel wrong PIN locked it meanwhile
        if locked is not None:
            return locked
        if ok:
            conn.execute(delete(m.reader_pin_state).where(
                m.reader_pin_state.c.reader_id == reader_id))
            answer = PinAnswer("ok", grant=issue_grant(conn, kiosk_id=kiosk_id,
                                                       reader_id=reader_id, now=now))
        else:
            state = LOCKOUT.after_wrong(failures, now)
            values = {"failures": state.failures,
                      "locked_until": state.locked_until.isoformat() if state.locked_until else None}
            done = conn.execute(update(m.reader_pin_state).where(
                m.reader_pin_state.c.reader_id == reader_id).values(**values))
            if not done.rowcount:
                conn.execute(insert(m.reader_pin_state).values(reader_id=reader_id, **values))
            answer = (PinAnswer("locked", 0, LOCKOUT.minutes_left(state.locked_until, now))
                      if state.locked_until is not None
                      else PinAnswer("wrong", LOCKOUT.attempts_left(state.failures)))
    log.info("reader %s PIN checked for kiosk %s: %s", reader_id, kiosk_id, answer.result)
    return answer

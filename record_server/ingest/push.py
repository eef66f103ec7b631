"""One batch from one kiosk in one transaction, rerun when it loses a race."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError

from library_core import contract as c
from library_core.clock import Clock
from library_core.fees import FeeSchedule
from record_server import bulk
from record_server import models as m
from record_server.changes import publish
from record_server.db import Database
from record_server.ingest import prepared
from record_server.ingest.ordering import Redo, apply_batch
from record_server.ingest.retry import PUSH_ATTEMPTS, Busy, is_transient

log = logging.getLogger(__name__)

_KIOSK = select(m.kiosks.c.next_seq, m.kiosks.c.revoked_at).where(
    m.kiosks.c.kiosk_id == bindparam("kiosk_id"))
_KIOSK_FOR_UPDATE = _KIOSK.with_for_update()
_SEEN = select(m.events.c.event_id, m.events.c.status, m.events.c.kiosk_id).where(
    m.events.c.event_id.in_(bindparam("ids", expanding=True)))
_PRESENT = select(m.events.c.seq).where(m.events.c.kiosk_id == bindparam("kiosk_id"),
                                        m.events.c.seq >= bindparam("next_seq"))
_KIOSK_DONE = (update(m.kiosks).where(m.kiosks.c.kiosk_id == bindparam("_key"))
               .values(next_seq=bindparam("next_seq"), last_push_at=bindparam("last_push_at")))


class KioskGone(Exception):
    """The kiosk was revoked or never enrolled."""


PushPause = Callable[[str, list[c.EventEnvelope]], None]
"""Called inside a push transaction, every write done, just before COMMIT: (kiosk id, batch).
Test drills only (``tests/support/paused_server.py`` passes one); production never does."""


def push(db: Database, *, kiosk_id: str, envelopes: list[c.EventEnvelope],
         schedule: FeeSchedule, clock: Clock,
         sleep: Callable[[float], None] = time.sleep,
         pause: PushPause | None = None) -> tuple[list[dict[str, Any]], int]:
    """Apply one batch from one kiosk. Returns (results in the order given, next expected seq).

    A deadlock or serialization failure against a concurrent batch rolls the whole batch back
    and runs it again (up to ``PUSH_ATTEMPTS`` times, with a short jittered pause); after that
    it raises Busy (the API answers 503 with Retry-After). ``pause`` (tests only) runs inside
    the transaction before it commits.
    """
    for attempt in range(PUSH_ATTEMPTS):
        try:
            return _push_once(db, kiosk_id=kiosk_id, envelopes=envelopes, schedule=schedule,
                              clock=clock, pause=pause)
        except DBAPIError as err:
            if not is_transient(err):
                raise
            log.warning("batch of %d from %s lost a race (%s); attempt %d of %d", len(envelopes),
                        kiosk_id, getattr(err.orig, "sqlstate", "locked"), attempt + 1,
                        PUSH_ATTEMPTS)
            if attempt + 1 < PUSH_ATTEMPTS:
                sleep(0.02 * (1 << attempt) * (0.5 + random.random()))  # noqa: S311 - jitter
    raise Busy()


def _push_once(db: Database, *, kiosk_id: str, envelopes: list[c.EventEnvelope],
               schedule: FeeSchedule, clock: Clock,
               pause: PushPause | None = None) -> tuple[list[dict[str, Any]], int]:
    """One attempt at a batch, in one transaction.

    Lock order: the kiosk's own row first (so one kiosk's batches apply one at a time), the
    change counter only in ``publish`` at the end: batches of different kiosks run their
    events concurrently on PostgreSQL and serialise only while publishing their changes.
    """
    now = clock.now().isoformat()
    ready = prepared.prepare(envelopes)  # outside the write lock: it needs no database
    with db.write_grouped() as conn:  # answered only once committed (SQLite: shared fsync)
        kiosk = conn.execute(_KIOSK if db.is_sqlite else _KIOSK_FOR_UPDATE,
                             {"kiosk_id": kiosk_id}).first()
        if kiosk is None or kiosk.revoked_at:
            raise KioskGone(kiosk_id)
        next_seq = int(kiosk.next_seq)
        ids = [str(e.event_id) for e in envelopes]
        seen = {r.event_id: r for r in conn.execute(_SEEN, {"ids": ids})} if ids else {}
        present = {int(r[0]) for r in conn.execute(
            _PRESENT, {"kiosk_id": kiosk_id, "next_seq": next_seq})}
        args: dict[str, Any] = dict(kiosk_id=kiosk_id, envelopes=envelopes, now=now,
                                    schedule=schedule, next_seq=next_seq, seen=seen,
                                    ready=ready)
        conn.exec_driver_sql("SAVEPOINT batch")
        try:
            by_id, rows, touched, next_seq = apply_batch(conn, present=set(present),
                                                       guarded=False, **args)
        except Redo as redo:
            log.debug("event %s refused; batch of %d rerun with savepoints", redo,
                      len(envelopes))
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT batch")
            by_id, rows, touched, next_seq = apply_batch(conn, present=set(present),
                                                       guarded=True, **args)
        conn.exec_driver_sql("RELEASE SAVEPOINT batch")
        bulk.insert_many(conn, m.events, rows)
        conn.execute(_KIOSK_DONE, {"_key": kiosk_id, "next_seq": next_seq, "last_push_at": now})
        publish(conn, touched)
        if pause is not None:
            pause(kiosk_id, envelopes)
    return [by_id[str(e.event_id)] for e in envelopes], next_seq


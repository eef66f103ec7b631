"""The visitor retention purge: a visitor's personal data is removed once the visit is older than
the retention period (``ServerConfig.visitor_retention_days``).

What goes: the name, phone, ID number and purpose of the visit (``visits``) and the same fields in
the ``visit.opened`` event the kiosk pushed (``events.payload``). What stays: that a visit
happened, where, when and for which department, so reports count visitors as before. Each run
is one transaction that also writes a ``visitor_purges`` row and, when it removed anything, an
audit row (``purge.visitors``, by ``system`` for the timer and the command line, or a staff
number), so the console shows it.

``PurgeTimer`` runs it while the server serves: at start-up, then every
``visitor_purge_interval_s`` (a day by default); ``record-server purge-visitors`` runs it once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from library_core import events as ev
from library_core.clock import Clock
from record_server import models as m
from record_server.console import audit
from record_server.db import Database

log = logging.getLogger(__name__)

SYSTEM = "system"
PURGED_FIELDS = {"name": "", "phone": "", "id_number": None, "purpose": ""}


@dataclass(frozen=True)
class PurgeResult:
    cutoff: str
    visits: int
    events: int


def _older(value: str, cutoff: dt.datetime) -> bool:
    return dt.datetime.fromisoformat(value) < cutoff


def purge_visitors(db: Database, *, now: dt.datetime, retention_days: int,
                   by: str = SYSTEM) -> PurgeResult:
    """Purge every visit opened before ``now - retention_days``, in one transaction. Raises
    ValueError for a retention below one day."""
    if retention_days < 1:
        raise ValueError("visitor retention must be at least one day")
    cutoff = now - dt.timedelta(days=retention_days)
    with db.write() as conn:
        result = _purge(conn, cutoff=cutoff, now=now)
        conn.execute(m.visitor_purges.insert().values(
            at=now.isoformat(), cutoff=result.cutoff, retention_days=retention_days,
            visits=result.visits, events=result.events, by=by[:16]))
        if result.visits or result.events:  # a run that changed nothing is kept, not audited
            audit.record(conn, staff_no=by[:8], action="purge.visitors", now=now,
                         target=f"before {result.cutoff}"[:64],
                         after={"visits": result.visits, "events": result.events,
                                "retention_days": retention_days})
    log.info("visitor purge: %d visits, %d events older than %s", result.visits,
             result.events, result.cutoff)
    return result


def _purge(conn: Connection, *, cutoff: dt.datetime, now: dt.datetime) -> PurgeResult:
    v = m.visits.c
    ids = [r.visit_id for r in conn.execute(
        select(v.visit_id, v.opened_at).where(v.purged_at.is_(None)))
        if _older(r.opened_at, cutoff)]
    for start in range(0, len(ids), 500):
        conn.execute(update(m.visits).where(v.visit_id.in_(ids[start:start + 500]))
                     .values(purged_at=now.isoformat(), **PURGED_FIELDS))
    e = m.events.c
    last_day = (cutoff.date() + dt.timedelta(days=1)).isoformat()  # local days: a day's slack
    events = 0
    query = select(e.event_id, e.occurred_at, e.payload).where(
        e.kind == ev.VISIT_OPENED, e.occurred_day <= last_day)
    previous = conn.execute(select(m.visitor_purges.c.cutoff)
                            .order_by(m.visitor_purges.c.id.desc()).limit(1)).scalar()
    if previous:  # events before the last run's cutoff were scrubbed by that run
        since = dt.datetime.fromisoformat(previous).date() - dt.timedelta(days=1)
        if since < cutoff.date():
            query = query.where(e.occurred_day >= since.isoformat())
    rows = conn.execute(query).all()
    for r in rows:
        if not _older(r.occurred_at, cutoff):
            continue
        payload: dict[str, Any] = json.loads(r.payload)
        if all(payload.get(k) in (None, "") for k in PURGED_FIELDS):
            continue
        payload.update({k: val for k, val in PURGED_FIELDS.items() if k in payload})
        conn.execute(update(m.events).where(e.event_id == r.event_id).values(
            payload=json.dumps(payload, ensure_ascii=True, sort_keys=True)))
        events += 1
    return PurgeResult(cutoff=cutoff.isoformat(), visits=len(ids), events=events)


def recent_purges(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The latest purge runs, newest first (the visitors page shows them)."""
    rows = conn.execute(select(m.visitor_purges).order_by(m.visitor_purges.c.id.desc())
                        .limit(limit)).all()
    return [dict(r._mapping) for r in rows]


class PurgeTimer:
    """Runs the purge on its own daemon thread: once at start, then every ``interval_s``."""

    def __init__(self, db: Database, clock: Clock, *, retention_days: int,
                 interval_s: float) -> None:
        self.db = db
        self.clock = clock
        self.retention_days = retention_days
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PurgeResult | None:
        try:
            return purge_visitors(self.db, now=self.clock.now(),
                                  retention_days=self.retention_days)
        except Exception:  # the timer must outlive a failed run; the next one tries again
            log.exception("visitor purge failed")
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="visitor-purge", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def install_timer(app: Any, db: Database, clock: Clock, *, retention_days: int,
                  interval_s: float) -> PurgeTimer:
    """Run the purge while ``app`` (FastAPI) serves: started with it, stopped with it."""
    timer = PurgeTimer(db, clock, retention_days=retention_days, interval_s=interval_s)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        timer.start()
        try:
            async with inner(application) as state:
                yield state
        finally:
            timer.stop()

    app.router.lifespan_context = lifespan
    return timer

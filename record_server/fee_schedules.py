"""Fee schedules in force from a date (issue 12.10): edited in the console, pulled by kiosks,
and the one the ingest checks each event against.

Before the first dated schedule the server's configured one (``ServerConfig.fee_schedule``,
published as the pulled document ``current``) is in force; a dated schedule is in force from its
``effective_from`` (library-local day) until the next. Each is published to kiosks as the
pulled document ``from:<YYYY-MM-DD>`` (the ``fee_schedule`` entity), so a kiosk holds it before
the day and prices with it from that day (``kiosk.services.fees.PulledFeeSchedule``). A date
must be after today: a kiosk has to pull the schedule before it applies, and the events of
today were checked against the schedule already in force.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from library_core.clock import CHINA_TZ
from library_core.fees import FeeSchedule, fee_schedule_from_dict
from record_server.changes import publish_document
from record_server.office_tables import fee_schedules

DOCUMENT_PREFIX = "from:"

# one read of the dated schedules per connection (a push's batch is one connection), parsed
# once per distinct document
_PER_CONNECTION: weakref.WeakKeyDictionary[Connection, list[tuple[str, FeeSchedule]]] = (
    weakref.WeakKeyDictionary())
_PARSED: dict[str, FeeSchedule] = {}


def document_id(effective_from: dt.date) -> str:
    return f"{DOCUMENT_PREFIX}{effective_from.isoformat()}"


def _parsed(data: str) -> FeeSchedule:
    schedule = _PARSED.get(data)
    if schedule is None:
        schedule = _PARSED[data] = fee_schedule_from_dict(json.loads(data))
    return schedule


def dated(conn: Connection) -> list[tuple[str, FeeSchedule]]:
    """Every dated schedule, oldest first: (effective_from, schedule)."""
    c = fee_schedules.c
    rows = conn.execute(select(c.effective_from, c.data).order_by(c.effective_from)).all()
    return [(str(r.effective_from), _parsed(str(r.data))) for r in rows]


def in_force(conn: Connection, base: FeeSchedule, day: dt.date) -> FeeSchedule:
    """The schedule in force on ``day``: the latest dated one from that day or before, else
    ``base`` (the configured schedule)."""
    rows = _PER_CONNECTION.get(conn)
    if rows is None:
        rows = _PER_CONNECTION[conn] = dated(conn)
    key = day.isoformat()
    chosen = base
    for effective_from, schedule in rows:
        if effective_from > key:
            break
        chosen = schedule
    return chosen


def on_event_day(conn: Connection, base: FeeSchedule, occurred_at: dt.datetime) -> FeeSchedule:
    """The schedule in force on the library-local day an event claims to have happened."""
    return in_force(conn, base, occurred_at.astimezone(CHINA_TZ).date())


def save(conn: Connection, *, effective_from: dt.date, schedule: FeeSchedule, staff_no: str,
         now: dt.datetime) -> dict[str, Any] | None:
    """Store ``schedule`` from ``effective_from`` (replacing one saved for that day) and publish
    it to kiosks; returns the schedule it replaced (``to_dict``), or None. The caller has checked
    the date (``after_today``) and audits the change in the same transaction."""
    c = fee_schedules.c
    old = conn.execute(select(c.data).where(
        c.effective_from == effective_from.isoformat())).scalar()
    data = json.dumps(schedule.to_dict(), sort_keys=True)
    values = {"effective_from": effective_from.isoformat(), "data": data, "staff_no": staff_no,
              "saved_at": now.isoformat()}
    mod: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = mod.insert(fee_schedules).values(values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[c.effective_from], set_={
        "data": stmt.excluded.data, "staff_no": stmt.excluded.staff_no,
        "saved_at": stmt.excluded.saved_at}))
    publish_document(conn, "fee_schedule", document_id(effective_from), schedule.to_dict())
    _PER_CONNECTION.pop(conn, None)
    return None if old is None else dict(json.loads(old))


def after_today(effective_from: dt.date, now: dt.datetime) -> bool:
    return effective_from > now.astimezone(CHINA_TZ).date()

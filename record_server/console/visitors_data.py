"""Visitors for the console: who is on site now across every kiosk (the evacuation roster) and
the history with filters. Phone and ID numbers are shown masked (``library_core.identity``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from library_core.identity import mask_mobile
from record_server import models as m

HISTORY_LIMIT = 500
HISTORY_HEADER = ("visit_id", "kiosk_id", "name", "phone", "purpose", "host_department",
                  "opened_at", "expires_at", "closed_at", "how", "purged_at")


def on_site(conn: Connection, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Open visits whose pass has not expired, from every kiosk, by kiosk then arrival."""
    v, k = m.visits.c, m.kiosks.c
    rows = conn.execute(
        select(m.visits, k.branch).select_from(m.visits.outerjoin(m.kiosks,
                                                                  v.kiosk_id == k.kiosk_id))
        .where(v.closed_at.is_(None)).order_by(v.kiosk_id, v.opened_at)).all()
    return [dict(r._mapping) | {"phone_masked": mask_mobile(r.phone) if r.phone else ""} for r in rows
            if dt.datetime.fromisoformat(r.expires_at) > now]


@dataclass(frozen=True)
class VisitQuery:
    """The history's filters; empty ones match everything."""

    day_from: str = ""
    day_to: str = ""
    kiosk_id: str = ""
    name: str = ""
    department: str = ""
    state: str = ""  # "" | open | closed | purged


def history(conn: Connection, query: VisitQuery, *,
            limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """Visits matching ``query``, newest first (opened_at holds the kiosk's offset; the day
    filter compares its date part, the library-local day)."""
    v = m.visits.c
    q = select(m.visits)
    if query.day_from:
        q = q.where(v.opened_at >= query.day_from)
    if query.day_to:
        q = q.where(v.opened_at < (dt.date.fromisoformat(query.day_to)
                                   + dt.timedelta(days=1)).isoformat())
    if query.kiosk_id:
        q = q.where(v.kiosk_id == query.kiosk_id)
    if query.name:
        q = q.where(v.name.contains(query.name, autoescape=True))
    if query.department:
        q = q.where(v.host_department.contains(query.department, autoescape=True))
    if query.state == "open":
        q = q.where(v.closed_at.is_(None))
    elif query.state == "closed":
        q = q.where(v.closed_at.is_not(None))
    elif query.state == "purged":
        q = q.where(v.purged_at.is_not(None))
    rows = conn.execute(q.order_by(v.opened_at.desc()).limit(limit)).all()
    return [dict(r._mapping) | {"phone_masked": mask_mobile(r.phone) if r.phone else ""} for r in rows]


def history_table(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["visit_id"], r["kiosk_id"], r["name"], r["phone_masked"], r["purpose"],
             r["host_department"], r["opened_at"], r["expires_at"], r["closed_at"] or "",
             r["how"] or "", r["purged_at"] or ""] for r in rows]


def kiosk_ids(conn: Connection) -> list[str]:
    return [str(k) for k in conn.execute(select(m.kiosks.c.kiosk_id)
                                         .order_by(m.kiosks.c.kiosk_id)).scalars()]

"""The console's audit log: every change made in the console, and every reveal of a full ID
number or phone, with who, when, what, and the state before and after (JSON).

``record`` is called in the transaction that makes the change, so the change and its audit
row are committed together or not at all. Other console pages (dashboard, finance, visitors,
review) record their changes the same way.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from library_core.clock import CHINA_TZ
from record_server import models as m

PAGE = 100


def record(conn: Connection, *, staff_no: str, action: str, now: dt.datetime,
           target: str = "", reader_id: str | None = None, kiosk_id: str | None = None,
           before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
           reason: str = "") -> None:
    """Add one audit row (``action`` like ``card.report_lost``, ``staff.role``)."""
    conn.execute(m.audit_log.insert().values(
        at=now.isoformat(), day=now.astimezone(CHINA_TZ).date().isoformat(), staff_no=staff_no, action=action[:48],
        target=target[:64], reader_id=reader_id, kiosk_id=kiosk_id,
        before=json.dumps(dict(before or {}), ensure_ascii=False, sort_keys=True, default=str),
        after=json.dumps(dict(after or {}), ensure_ascii=False, sort_keys=True, default=str),
        reason=reason[:300]))


@dataclass(frozen=True)
class AuditQuery:
    """What the audit page searches by; empty fields match everything."""

    staff_no: str = ""
    reader_id: str = ""
    kiosk_id: str = ""
    action: str = ""
    day_from: str = ""
    day_to: str = ""
    before_id: int | None = None  # the next page: rows older than this id


def search(conn: Connection, query: AuditQuery, *, limit: int = PAGE) -> list[dict[str, Any]]:
    """Matching rows, newest first (``action`` matches a prefix: ``card.`` finds every card
    action)."""
    c = m.audit_log.c
    stmt = select(m.audit_log)
    if query.staff_no:
        stmt = stmt.where(c.staff_no == query.staff_no)
    if query.reader_id:
        stmt = stmt.where(c.reader_id == query.reader_id)
    if query.kiosk_id:
        stmt = stmt.where(c.kiosk_id == query.kiosk_id)
    if query.action:
        stmt = stmt.where(c.action.startswith(query.action, autoescape=True))
    if query.day_from:
        stmt = stmt.where(c.day >= query.day_from)
    if query.day_to:
        stmt = stmt.where(c.day <= query.day_to)
    if query.before_id is not None:
        stmt = stmt.where(c.id < query.before_id)
    rows = conn.execute(stmt.order_by(c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def actions(conn: Connection) -> list[str]:
    """The actions recorded so far (the audit page's filter list)."""
    return [str(a) for a in conn.execute(
        select(m.audit_log.c.action).distinct().order_by(m.audit_log.c.action)).scalars()]

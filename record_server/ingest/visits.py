"""Handlers for visits (opened, closed) and the day close."""

from __future__ import annotations

import datetime as dt

from library_core import contract as c
from library_core.rules import ACTION_CLOSE_DAY
from record_server import models as m
from record_server.ingest.context import Context, Reject, staff_or_reject
from record_server.ingest.numbering import check_visit_id
from record_server.ingest.statements import by_key, insert_into, update_by_key

VISIT_LONGEST = dt.timedelta(days=1)  # a pass is valid until closing time of its day


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def visit_opened(ctx: Context, p: c.VisitOpened) -> None:
    if not ctx.occurred_at <= _when(p.expires_at) <= ctx.occurred_at + VISIT_LONGEST:
        raise Reject("visit_expiry_out_of_range")
    check_visit_id(ctx, p.visit_id)
    if by_key(ctx.conn, m.visits, m.visits.c.visit_id, p.visit_id) is not None:
        raise Reject("visit_exists")
    insert_into(ctx.conn, m.visits, dict(
        visit_id=p.visit_id, kiosk_id=ctx.kiosk_id, name=p.name, phone=p.phone,
        id_number=p.id_number, purpose=p.purpose, host_department=p.host_department,
        opened_at=ctx.occurred_at.isoformat(), expires_at=p.expires_at))


def visit_closed(ctx: Context, p: c.VisitClosed) -> None:
    visit = by_key(ctx.conn, m.visits, m.visits.c.visit_id, p.visit_id)
    if visit is None:
        raise Reject("unknown_visit")
    if _when(p.closed_at) > ctx.server_now + VISIT_LONGEST:
        raise Reject("closed_in_future")
    if visit.closed_at is None:
        update_by_key(ctx.conn, m.visits, m.visits.c.visit_id, p.visit_id,
                closed_at=p.closed_at, how=p.how)


def day_closed(ctx: Context, p: c.DayClosed) -> None:
    """The end-of-day report is kept in the event log; nothing else changes. A supervisor's."""
    staff_or_reject(ctx, p.staff_no, ACTION_CLOSE_DAY)


"""Visits still open at closing are closed by the kiosk itself: the app puts a Kivy Clock event
on the configured closing time (by the kiosk's clock) and, when it fires, closes every open visit,
audited as ``system``; the next day's closing is scheduled at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kiosk.services.visitors import VisitorRequest
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import services

pytestmark = pytest.mark.ui



def test_open_visits_are_closed_at_closing_time(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    p = d.parts
    backend = d.app.ctx.backend
    start = p.clock.now()
    closing = dt.time.fromisoformat(p.settings.kiosk.closing_time)
    closing_at = dt.datetime.combine(start.date(), closing, tzinfo=start.tzinfo)
    # the app scheduled today's closing when it started
    assert backend.closing_at is not None and backend.closing_at.time() == closing

    visit = services(d)["visitors"].register(VisitorRequest(
        name="访客甲", phone="13900001111", purpose="meeting", host_department="office",
        consent=True)).visit
    last_audit = p.store.read_one("SELECT max(id) AS m FROM audit_log")["m"]
    try:
        p.clock.set(closing_at - dt.timedelta(milliseconds=300))
        backend.schedule_closing()  # as at start-up, 0.3 s before closing by the kiosk clock
        assert backend.closing_at == closing_at
        d.pump()
        assert _open(d, visit.visit_id)  # not before closing
        p.clock.set(closing_at)
        d.pump_until(lambda: not _open(d, visit.visit_id), "visit closed", until_idle=False)
        row = p.store.read_one("SELECT closed_at, closed_how FROM visitors WHERE visit_id = ?",
                               (visit.visit_id,))
        assert row["closed_how"] == "auto" and row["closed_at"] == closing_at.isoformat()
        audit = p.store.read("SELECT actor, action, subject FROM audit_log WHERE id > ?",
                             (last_audit,))
        assert ("system", "visit.closed", visit.visit_id) in [tuple(r) for r in audit]
        d.pump_until(lambda: backend.closing_at != closing_at, "next closing scheduled",
                     until_idle=False)
        assert backend.closing_at == closing_at + dt.timedelta(days=1)  # tomorrow's is set
    finally:
        p.clock.set(start)
        backend.schedule_closing()


def _open(d: Any, visit_id: str) -> bool:
    row = d.parts.store.read_one("SELECT closed_at FROM visitors WHERE visit_id = ?", (visit_id,))
    return row is not None and row["closed_at"] is None

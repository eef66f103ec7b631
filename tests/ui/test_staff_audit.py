"""Staff mode under Xvfb: every staff action leaves an audit entry naming who did it, including
the log-out after staff idle time."""

from __future__ import annotations

import json

import pytest

from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import open_fees, seed_overdue_fines, seed_reader

pytestmark = pytest.mark.ui


def _audit_since(d, last_id: int) -> list[tuple[str, str, str]]:  # noqa: ANN001
    return [(r["actor"], r["action"], r["subject"]) for r in d.parts.store.read(
        "SELECT actor, action, subject FROM audit_log WHERE id > ? ORDER BY id", (last_id,))]


def _login(d, digits: str, pin: str) -> None:  # noqa: ANN001
    d.press(key="home.staff")
    d.type_digits(digits)
    d.press(key="nav.next")
    d.type_digits(pin)
    d.press(key="nav.next")
    assert d.app.staff is not None, d.app.screen.error


def test_staff_actions_and_idle_logout_are_audited(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    uid = b"\x04\x5a\x00\x01"
    reader_id = seed_reader(d, uid, name="冯雪")
    seed_overdue_fines(d, reader_id, [("Waived Book", 4)])
    fee_id = open_fees(d, reader_id)[0]["fee_id"]
    start = d.parts.store.read_one("SELECT max(id) AS m FROM audit_log")["m"]

    _login(d, "0002", "135790")  # supervisor
    d.press(key="staff.roster")
    assert d.app.sm.current == "receipt"
    d.press(key="nav.done")
    d.press(key="staff.diagnostics")
    assert d.find_all(key="diag.reader")  # the diagnostics lines are on screen
    d.press(key="nav.cancel")
    d.press(key="staff.reprint")
    first = d.app.screen.choices[0]
    reprinted = first.choice
    d.tap(first)
    assert d.app.sm.current == "receipt"
    d.press(key="nav.done")
    d.press(key="staff.waive")
    d.tap_card(uid)
    d.tap(d.app.screen.choices[0])
    assert d.parts.store.read_one("SELECT status FROM fees WHERE fee_id = ?",
                                  (fee_id,))["status"] == "waived"
    d.remove_card()
    d.press(key="nav.cancel")

    # idle: the staff session ends by itself, and says so in the audit log
    d.advance_idle(d.app.ctx.staff_idle_s + 1)
    assert d.app.staff is None and d.app.sm.current == "home"

    entries = _audit_since(d, start)
    actions = [(actor, action) for actor, action, _ in entries]
    for action in ("staff.login", "visit.roster", "device.diagnostics", "receipt.reprinted",
                   "fee.waived", "staff.logout"):
        assert ("S0002", action) in actions, (action, entries)
    assert ("S0002", "receipt.reprinted", reprinted) in entries
    assert actions[-1] == ("S0002", "staff.logout")
    last = d.parts.store.read_one("SELECT detail FROM audit_log ORDER BY id DESC")
    assert isinstance(json.loads(last["detail"]), dict)

"""The receipt journal under Xvfb: every receipt a flow prints is marked printed or failed (with
the printer's reason, stamped by the kiosk's clock); staff mode lists the unprinted ones first and
reprints them, marked as a reprint on paper and in the audit log with who did it."""

from __future__ import annotations

from typing import Any

import pytest

from library_core import i18n
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import issue_card

pytestmark = pytest.mark.ui
REPRINT_LINES = 20  # the staff reprint list's length (kiosk/ui/screens/staff.py)


def _status(d: Any, receipt_no: str) -> tuple[str, str, str | None]:
    row = d.parts.store.read_one("SELECT print_status, print_message_id, printed_at"
                                 " FROM receipts WHERE receipt_no = ?", (receipt_no,))
    return row["print_status"], row["print_message_id"], row["printed_at"]


def _login(d: Any, digits: str, pin: str) -> None:
    d.press(key="home.staff")
    d.type_digits(digits)
    d.press(key="nav.next")
    d.type_digits(pin)
    d.press(key="nav.next")
    assert d.app.staff is not None, d.app.screen.error


def test_print_results_are_journaled_and_unprinted_receipts_reprinted(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    p = d.parts
    now = p.clock.now().isoformat()

    # paper out: the card is still issued, the journal says why the receipt did not print
    p.printer.set_state(paper="out")
    issue_card(d, serial=811, uid=b"\x04\x81\x10\x01", name=(("zhou", "周"), ("ming", "明")))
    failed_no = d.app.screen.receipt_no
    d.press(key="nav.done")
    d.remove_card()
    assert _status(d, failed_no) == ("failed", "printer.paper_out", None)

    # paper back: the next receipt prints and is marked printed at the kiosk clock's time
    p.printer.set_state()
    issue_card(d, serial=812, uid=b"\x04\x81\x20\x01", name=(("wang", "王"), ("xing", "星")))
    printed_no = d.app.screen.receipt_no
    d.press(key="nav.done")
    d.remove_card()
    assert _status(d, printed_no) == ("printed", "", now)
    assert [no for no, _ in p.printer.jobs].count(failed_no) == 0

    # staff: the unprinted receipt is listed before printed ones, with the printer's reason
    d.app.set_language("en")
    _login(d, "0001", "246810")
    start = p.store.read_one("SELECT max(id) AS m FROM audit_log")["m"]
    d.press(key="staff.reprint")
    buttons = d.app.screen.choices
    listed = [b.choice for b in buttons]
    kinds = [b.key for b in buttons]
    printed_key = "staff.reprint_line.printed"
    # unprinted first (this session's kiosk keeps earlier tests' receipts too), then printed
    assert kinds == sorted(kinds, key=lambda k: k == printed_key)
    assert kinds[listed.index(failed_no)] == "staff.reprint_line.failed"
    if printed_no in listed:
        assert listed.index(failed_no) < listed.index(printed_no)
    else:  # the list (20 lines) was filled before it: by unprinted ones, then printed ones
        assert len(listed) == REPRINT_LINES  # issued later by other tests' clocks
    failed_button = buttons[listed.index(failed_no)]
    reason = i18n.translate("printer.paper_out", "en")
    assert reason in failed_button.text and failed_no in failed_button.text
    assert failed_button.height >= 90  # touch-sized

    jobs = len(p.printer.jobs)
    failed_button.parent.parent.scroll_to(failed_button, padding=0, animate=False)  # a long list
    d.pump()
    d.tap(failed_button)
    assert d.app.sm.current == "receipt"
    assert len(p.printer.jobs) == jobs + 1
    job_no, job = p.printer.jobs[-1]
    assert job_no == failed_no
    assert i18n.translate("receipt.reprint_mark", "en").encode() in job
    assert _status(d, failed_no) == ("printed", "", now)
    # the journal keeps the original body (a reprint does not become the receipt)
    assert p.store.receipt(failed_no).reprint is False
    audit = p.store.read("SELECT actor, action, subject FROM audit_log WHERE id > ?", (start,))
    assert [(r["actor"], r["action"], r["subject"]) for r in audit] == [
        ("S0001", "receipt.reprinted", failed_no)]
    d.press(key="nav.done")

    # printed now: the list no longer counts it as unprinted
    d.press(key="staff.reprint")
    again = {b.choice: b.key for b in d.app.screen.choices}
    assert again.get(failed_no, printed_key) == printed_key  # listed as printed, or among them
    assert sum(k != printed_key for k in again.values()) < sum(k != printed_key for k in kinds) \
        or len(again) == REPRINT_LINES
    d.press(key="nav.cancel")


def test_reprint_of_an_unknown_receipt_changes_nothing(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    from kiosk.ui.flows.results import NotAvailable

    backend = d.app.ctx.backend
    staff = backend.staff_login("S0001", "246810")
    jobs, audits = len(d.parts.printer.jobs), d.parts.store.count("audit_log")
    with pytest.raises(NotAvailable) as err:
        backend.reprint(staff, "K01-20991231-9999", language="en")
    assert err.value.message_id == "receipt.not_found"
    assert "K01-20991231-9999" in i18n.translate("receipt.not_found", "en", **err.value.params)
    assert len(d.parts.printer.jobs) == jobs
    assert d.parts.store.count("audit_log") == audits

"""Kiosk flows under Xvfb, driven by touches on the real widgets and by simulated devices;
assertions on what the screen shows and what the store and printer received."""

from __future__ import annotations

import pytest

from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import WECHAT_CODE, issue_card, make_id

pytestmark = pytest.mark.ui

def test_home_buttons_are_large_and_translated(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    buttons = [d.find(key=k) for k in ("home.new_card", "home.renewal", "home.replacement",
                                        "home.fees", "home.returns", "home.visitor")]
    assert all(b.height >= 64 and b.width >= 64 for b in buttons)
    assert buttons[0].text == "办证"
    d.press(raw="English")
    assert buttons[0].text == "New card"
    assert "Card reader" in d.texts()


def test_new_card_then_renewal(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    uid = b"\x04\x11\x22\x33"
    jobs = len(d.parts.printer.jobs)
    issue_card(d, serial=1, uid=uid)
    assert len(d.parts.printer.jobs) == jobs + 1
    assert "凭条已打印" in d.texts()
    row = d.parts.store.read_one("SELECT count(*) AS n FROM readers WHERE name = ?", ("王明",))
    assert row["n"] == 1
    # masked everywhere: the full ID never shows on screen
    assert make_id(1) not in d.texts()
    d.press(key="nav.done")
    # tap the new card on the home screen -> renewal account
    d.remove_card()
    d.tap_card(uid)
    assert d.app.sm.current == "renewal"
    assert d.app.screen.step == 1
    d.press(key="renewal.renew")
    d.tap(d.find_all(key="renewal.period_option")[0])
    assert d.app.screen.step == 3, d.app.screen.error
    d.scan(WECHAT_CODE)
    assert d.app.sm.current == "receipt"
    assert d.parts.store.count("outbox", "kind = ?", ("card.renewed",)) == 1


def test_idle_warning_then_session_wiped(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    d.press(key="home.visitor")
    d.type_pinyin("li", "李")
    assert d.app.screen.entry.value == "李"
    d.advance_idle(46)
    assert d.app.idle_warning_open
    assert "14" in d.find(key="idle.countdown").text or "15" in d.find(key="idle.countdown").text
    d.advance_idle(15)
    assert d.app.sm.current == "home"
    assert not d.app.idle_warning_open
    d.press(key="home.visitor")
    assert d.app.screen.entry.value == ""


def test_language_switch_mid_flow(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    d.press(key="home.visitor")
    d.type_pinyin("zhang", "张")
    d.press(key="nav.next")
    d.type_digits("12345")
    assert d.find(key="nav.next").text == "下一步"
    d.press(raw="English")
    assert d.find(key="nav.next").text == "Next"
    assert d.find(key="nav.cancel").text == "Cancel"
    assert "Enter your mobile number" in d.texts()
    assert d.app.screen.entry.value == "12345"  # nothing typed is lost
    d.press(key="nav.back")
    assert d.app.screen.entry.value == "张"


def test_printer_out_of_paper_shows_receipt_qr(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    d.parts.printer.set_state(paper="out")
    try:
        issue_card(d, serial=2, uid=b"\x04\x55\x66\x77", name=(("chen", "陈"),))
        assert d.app.sm.current == "receipt"
        screen = d.app.screen
        assert not screen.printed
        # the on-screen QR is the receipt's e-receipt URL, the one the paper would have had
        receipt = d.parts.store.receipt(screen.receipt_no)
        assert screen.qr_data == receipt.qr == (
            f"{d.parts.settings.receipts.ereceipt_base_url}/r/{receipt.ereceipt_token}")
        assert len(receipt.ereceipt_token) == 22
        assert screen.ids.qr.texture is not None
        assert "凭条未能打印" in d.texts()
    finally:
        d.parts.printer.set_state()
        d.remove_card()

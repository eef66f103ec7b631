"""The guards around ILS fines on screen under Xvfb, beside the test ILS (pysip2's real server on
127.0.0.1; the kiosk of ``tests/ui/test_sip2_fees.py``):

- a reader only the ILS knows who types a wrong ILS PIN is told how many tries are left; the
  fifth wrong one in a row locks at the kiosk, and then even the right PIN sends nothing;
- the ILS's block (its patron status flags, in our words in both languages), screen messages
  and print lines (as it sent them) are on the fees and renewal screens; renewal is refused at
  once while the ILS denies renewal privileges; a malformed 64 is refused by name;
- a cash ILS payment by staff logged in offline over the offline limit is refused on screen,
  and nothing is posted to the ILS.
"""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.services.ils_pins import patron_key
from library_core import i18n
from library_core.money import format_fen
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.services import DESK
from tests.support.test_ils import IlsFine, IlsPatron
from tests.support.test_ils import test_ils as test_ils  # noqa: F401  (fixture)
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import seed_reader
from tests.ui.test_sip2_fees import (  # noqa: F401  (fixture)
    card_no_of,
    enter_ils_number,
    ils_kiosk,
    line,
)

pytestmark = pytest.mark.ui

GUESSED, GUESSED_PIN = "8800077777", "1357"  # an ILS-only patron someone guesses at
BIG, BIG_PIN = "8800066666", "2468"  # an ILS-only patron owing more than offline cash may take
BLOCKED = "YY" + " " * 8 + "Y" + " " * 3  # charge and renewal denied, excessive fines
SAYS = "请先到服务台缴清罚款 / Please pay your fines at the desk"
PRINTS = "欠费合计 8.00 / Owed 8.00"


def test_wrong_ils_pins_are_counted_and_lock_the_fees_screen(ils_kiosk: Any) -> None:  # noqa: F811
    d, ils, _runtime = ils_kiosk
    ils.patrons[GUESSED] = IlsPatron(GUESSED, "孙八", GUESSED_PIN, [IlsFine("F7", 900, "家 逾期")])
    store, key = d.parts.store, patron_key(GUESSED, d.parts.settings.library_key)
    try:
        for left in (4, 3, 2, 1):
            enter_ils_number(d, GUESSED, "0000")
            assert d.app.screen.error == line("ils.patron_pin_wrong", attempts_left=left)
            assert "家 逾期" not in d.texts()
        enter_ils_number(d, GUESSED, "0000")
        assert d.app.screen.error == line("pin.locked", minutes=1)
        d.app.set_language("en")
        d.pump()
        assert d.app.screen.error == i18n.translate("pin.locked", "en", minutes=1)
        d.app.set_language("zh_CN")
        d.pump()
        # locked: the right PIN is refused too, and nothing goes to the ILS
        sent = len(ils.frames_of("63"))
        enter_ils_number(d, GUESSED, GUESSED_PIN)
        assert d.app.screen.error == line("pin.locked", minutes=1)
        assert len(ils.frames_of("63")) == sent and d.app.screen.step == 0
        assert "家 逾期" not in d.texts() and not d.find_all(key="fees.ils_pay_all")
        assert store.read_one("SELECT failures FROM ils_pin_attempts WHERE patron_hash = ?",
                              (key,))[0] == 5
    finally:
        with store.transaction() as tx:  # the session's store: leave no lock behind
            tx.execute("DELETE FROM ils_pin_attempts WHERE patron_hash = ?", (key,))
        d.app.home()
        d.pump()


def test_the_ils_block_and_words_on_the_fees_and_renewal_screens(
        ils_kiosk: Any) -> None:  # noqa: F811
    d, ils, _runtime = ils_kiosk
    uid = b"\x04\x15\x00\x03"
    card_no = card_no_of(d, seed_reader(d, uid, name="吴九"))
    ils.patrons[card_no] = IlsPatron(card_no, "吴九", "", [IlsFine("F1", 800, "三体 逾期")],
                                     status=BLOCKED, messages=[SAYS], print_lines=[PRINTS])
    flags = ("charge_denied", "renewal_denied", "excessive_fines")
    d.press(key="home.fees")
    d.tap_card(uid)
    assert d.app.sm.current == "fees" and d.app.screen.step == 1, d.app.screen.error
    shown = d.texts()
    for key in ("ils.flags_title", *(f"ils.flag.{f}" for f in flags)):
        assert line(key) in shown, key
    assert line("ils.says", text=SAYS) in shown and line("ils.prints", text=PRINTS) in shown
    assert line("fees.ils_line", text="三体 逾期", amount=format_fen(800)) in shown
    assert line("ils.flag.too_many_lost") not in shown  # a flag not set is not shown
    d.app.set_language("en")  # our words in English; the ILS's own as it sent them
    d.pump()
    shown = d.texts()
    assert i18n.translate("ils.flag.renewal_denied", "en") in shown
    assert i18n.translate("ils.says", "en", text=SAYS) in shown
    d.app.set_language("zh_CN")
    d.pump()
    d.remove_card()
    d.app.home()
    d.pump()

    # renewal: the same lines, and refused at once, before any period or payment
    charges = len(d.parts.gateway.charges)
    d.tap_card(uid)
    assert d.app.sm.current == "renewal"
    assert d.app.screen.error == line("ils.renewal_denied")
    shown = d.texts()
    assert line("renewal.refused") in shown and line("ils.flag.renewal_denied") in shown
    assert line("ils.says", text=SAYS) in shown and line("ils.prints", text=PRINTS) in shown
    assert not d.find_all(key="renewal.renew")  # no way on but the fees
    assert len(d.parts.gateway.charges) == charges
    d.press(key="home.fees")
    assert d.app.sm.current == "fees" and d.app.screen.step == 1, d.app.screen.error
    d.remove_card()

    # a malformed 64 (14 status flags as "N"): refused by name, nothing of the account shown
    d.app.home()
    d.pump()
    ils.fault("63", "malformed")
    d.press(key="home.fees")
    d.tap_card(uid)
    assert d.app.screen.error == line("ils.protocol")
    assert d.app.screen.step == 0 and "三体 逾期" not in d.texts()
    d.remove_card()


def test_an_offline_staff_cash_ils_payment_over_the_offline_limit_is_refused_on_screen(
        ils_kiosk: Any) -> None:  # noqa: F811
    d, ils, _runtime = ils_kiosk
    staff_service, stand_in = d.app.ctx.backend.services["staff"], d.parts.staff_authority
    policy = staff_service.offline.policy()
    owed = policy.cash_limit_fen + 100  # one payment over the per-payment limit
    ils.patrons[BIG] = IlsPatron(BIG, "郑十", BIG_PIN, [IlsFine("F6", owed, "古籍 损坏赔偿")])
    staff_service.login(*DESK)  # online once: the kiosk holds the verifier
    stand_in.online = False
    try:
        desk = staff_service.login(*DESK)
        assert desk.offline
        enter_ils_number(d, BIG, BIG_PIN)
        assert d.app.screen.step == 1, d.app.screen.error
        receipts, posted = d.parts.store.count("receipts"), len(ils.frames_of("37"))
        d.app.staff = desk
        d.press(key="fees.ils_pay_all")
        d.press(key="pay.cash")
        policy = staff_service.offline.policy()
        assert d.app.screen.error == line("staff.offline_limit",
                                          limit_text=format_fen(policy.cash_limit_fen),
                                          day_limit_text=format_fen(policy.day_cash_limit_fen))
        assert d.app.sm.current == "fees"
        assert len(ils.frames_of("37")) == posted and ils.patrons[BIG].owed == owed
        assert d.parts.store.count("receipts") == receipts
    finally:
        stand_in.online = True
        d.app.staff = None

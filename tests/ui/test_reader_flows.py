"""Renewal refused over the fee limit, replacement of a lost card, fees by payment code, cash in
staff mode: touches on the real widgets under Xvfb, devices from the simulators; assertions on
the screen, the store (fees, cards, outbox, audit) and what the printer received."""

from __future__ import annotations

import json

import pytest

from library_core import i18n
from library_core.identity import id_number_hash
from library_core.money import format_fen
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import (
    READER_PIN,
    WECHAT_CODE,
    id_card_of,
    issue_card,
    journal_receipt,
    open_fees,
    place_id_card,
    seed_overdue_fines,
    seed_reader,
    services,
)

pytestmark = pytest.mark.ui


def test_renewal_refused_while_fees_owed_exceed_limit(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    uid = b"\x04\xa1\x00\x01"
    reader_id = seed_reader(d, uid)
    # three items 300 days late: 3 x the 20.00 cap = 60.00 owed, over the 50.00 limit
    seed_overdue_fines(d, reader_id, [("Book A", 300), ("Book B", 300), ("Book C", 300)])
    owed = sum(int(f["amount"]) for f in open_fees(d, reader_id))
    limit = d.parts.settings.fees.renewal_refused_above
    assert owed == 6000 > limit
    card_before = dict(d.parts.store.read_one("SELECT * FROM cards WHERE uid = ?", (uid.hex(),))
                       or d.parts.store.read_one("SELECT * FROM cards WHERE reader_id = ?", (reader_id,)))
    jobs = len(d.parts.printer.jobs)

    d.tap_card(uid)
    assert d.app.sm.current == "renewal"
    assert format_fen(owed) in d.texts()  # the balance is on the account step
    d.press(key="renewal.renew")
    d.tap(d.find_all(key="renewal.period_option")[0])

    expected = i18n.translate("fees.owed_above_limit", "zh_CN", owed_text=format_fen(owed),
                              limit_text=format_fen(limit))
    assert d.app.screen.error == expected
    shown = d.texts()
    assert expected in shown and "请先缴费" in shown
    assert i18n.translate("renewal.refused", "zh_CN") in shown
    assert d.app.screen.step == 2  # never reached payment
    # nothing renewed, nothing charged, nothing printed
    card_after = d.parts.store.read_one("SELECT * FROM cards WHERE reader_id = ?", (reader_id,))
    assert card_after["expires_on"] == card_before["expires_on"]
    assert d.parts.store.count("outbox", "kind = ? AND payload LIKE ?",
                               ("card.renewed", f"%{reader_id}%")) == 0
    assert len(d.parts.printer.jobs) == jobs
    # the refusal offers the way out: pay fees first, with this card's fees listed
    d.press(key="home.fees")
    assert d.app.sm.current == "fees" and d.app.screen.step == 1
    assert "Book A" in d.texts() and format_fen(owed) in d.texts()
    d.remove_card()


def test_replacement_blocks_old_card_and_issues_new(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    old_uid, new_uid = b"\x04\xb2\x00\x01", b"\x04\xb2\x00\x02"
    id_number = issue_card(d, serial=21, uid=old_uid, name=(("sun", "孙"), ("li", "李")))
    d.press(key="nav.done")
    d.remove_card()
    reader = d.parts.store.read_one("SELECT reader_id FROM readers WHERE id_hash = ?",
        (id_number_hash(id_number, d.parts.settings.library_key),))
    old = d.parts.store.read_one("SELECT * FROM cards WHERE reader_id = ?", (reader["reader_id"],))
    jobs = len(d.parts.printer.jobs)

    d.press(key="home.replacement")
    place_id_card(d, id_card_of("孙李", id_number))
    assert d.app.screen.step == 1, d.app.screen.error
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    assert d.app.screen.step == 2, d.app.screen.error
    # the old card is blocked before any payment, and queued first for the server
    assert d.parts.store.read_one("SELECT status FROM cards WHERE card_no = ?",
                                  (old["card_no"],))["status"] == "lost"
    assert format_fen(d.parts.settings.fees.replacement_fee) in d.texts()
    d.scan(WECHAT_CODE)
    assert d.app.screen.step == 3
    d.tap_card(new_uid)
    assert d.app.sm.current == "receipt", d.app.screen.error
    assert len(d.parts.printer.jobs) == jobs + 1
    receipt_no = d.app.screen.receipt_no
    assert d.parts.printer.jobs[-1][0] == receipt_no
    cards = d.parts.store.read("SELECT * FROM cards WHERE reader_id = ? ORDER BY generation",
                               (reader["reader_id"],))
    assert [(c["generation"], c["status"]) for c in cards] == [(1, "replaced"), (2, "active")]
    assert cards[1]["uid"] == new_uid.hex()
    kinds = [r["kind"] for r in d.parts.store.read(
        "SELECT kind, payload FROM outbox ORDER BY seq") if reader["reader_id"] in r["payload"]]
    assert kinds.index("card.blocked") < kinds.index("card.replaced")
    d.press(key="nav.done")
    d.remove_card()

    # the old card tapped later: refused as reported lost, on screen
    d.tap_card(old_uid)
    assert d.app.sm.current == "home"
    assert d.app.toast == i18n.translate("card.lost", "zh_CN")
    assert "挂失" in d.app.toast and d.app.toast in d.texts()
    d.remove_card()


def test_fees_paid_by_payment_code_with_receipt(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    uid = b"\x04\xc3\x00\x01"
    reader_id = seed_reader(d, uid, name="钱进")
    seed_overdue_fines(d, reader_id, [("Moby Dick", 12), ("Dream of the Red Chamber", 5),
                                      ("Walden", 3)])
    fees = sorted(open_fees(d, reader_id), key=lambda f: -int(f["amount"]))
    assert [int(f["amount"]) for f in fees] == [120, 50, 30]  # 10 fen a day late
    jobs = len(d.parts.printer.jobs)

    d.press(key="home.fees")
    d.tap_card(uid)
    assert d.app.screen.step == 1
    shown = d.texts()
    for title in ("Moby Dick", "Dream of the Red Chamber", "Walden"):
        assert title in shown
    # pay some: leave Walden for later
    walden = d.app.screen.fee_buttons[fees[2]["fee_id"]]
    d.tap(walden)
    assert d.app.screen.total() == 170
    assert format_fen(170) in d.texts()
    d.press(key="fees.pay_selected")
    assert d.app.screen.step == 2
    assert not d.find_all(key="pay.cash")  # no cash without staff
    d.scan(WECHAT_CODE)
    assert d.app.sm.current == "receipt", d.app.screen.error

    receipt_no = d.app.screen.receipt_no
    assert len(d.parts.printer.jobs) == jobs + 1 and d.parts.printer.jobs[-1][0] == receipt_no
    assert receipt_no.encode() in d.parts.printer.jobs[-1][1]
    status = {r["fee_id"]: r["status"] for r in d.parts.store.read(
        "SELECT fee_id, status FROM fees WHERE reader_id = ? AND kind = 'overdue'", (reader_id,))}
    assert status == {fees[0]["fee_id"]: "paid", fees[1]["fee_id"]: "paid",
                      fees[2]["fee_id"]: "open"}
    pay = d.parts.store.read_one("SELECT * FROM payments WHERE receipt_no = ?", (receipt_no,))
    assert (pay["method"], int(pay["amount"]), pay["staff_no"]) == ("wechat", 170, None)
    assert journal_receipt(d, receipt_no).total == 170
    d.press(key="nav.done")
    d.remove_card()


def test_cash_only_in_staff_mode(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    uid = b"\x04\xd4\x00\x01"
    reader_id = seed_reader(d, uid, name="周平")
    seed_overdue_fines(d, reader_id, [("Cash Book", 8)])
    fee = open_fees(d, reader_id)[0]

    # without staff: the payment step offers no cash, and the service refuses a cash tender
    d.press(key="home.fees")
    d.tap_card(uid)
    d.press(key="fees.pay_selected")
    assert d.app.screen.step == 2 and not d.find_all(key="pay.cash")
    from kiosk.services.common import Tender
    from kiosk.services.errors import CashStaffOnly

    with pytest.raises(CashStaffOnly):
        services(d)["fees"].pay(reader_id, Tender(cash=True, staff=None), fee_ids=[fee["fee_id"]])
    assert open_fees(d, reader_id)[0]["status"] == "open"
    d.press(key="nav.cancel")
    d.remove_card()

    # staff log-in on the keypad: staff number digits, then PIN
    d.press(key="home.staff")
    d.type_digits("0001")
    d.press(key="nav.next")
    d.type_digits("246810")
    d.press(key="nav.next")
    assert d.app.staff is not None and d.app.staff.staff_no == "S0001", d.app.screen.error
    assert "王芳" in d.texts()
    d.press(key="staff.cash_payment")
    assert d.app.sm.current == "fees"
    d.tap_card(uid)
    d.press(key="fees.pay_selected")
    d.press(key="pay.cash")
    assert d.app.sm.current == "receipt", d.app.screen.error
    receipt_no = d.app.screen.receipt_no
    pay = d.parts.store.read_one("SELECT * FROM payments WHERE receipt_no = ?", (receipt_no,))
    assert (pay["method"], int(pay["amount"]), pay["staff_no"]) == ("cash", 80, "S0001")
    assert d.parts.store.read_one("SELECT status FROM fees WHERE fee_id = ?",
                                  (fee["fee_id"],))["status"] == "paid"
    assert d.parts.printer.jobs[-1][0] == receipt_no
    audit = [(r["actor"], r["action"]) for r in d.parts.store.read(
        "SELECT actor, action FROM audit_log ORDER BY id DESC LIMIT 5")]
    assert ("S0001", "payment.recorded") in audit and ("S0001", "staff.login") in audit
    d.press(key="nav.done")
    assert d.app.sm.current == "staff"  # back to the staff menu, still signed in
    d.remove_card()
    d.press(key="staff.logout")
    assert d.app.staff is None and d.app.sm.current == "home"
    last = d.parts.store.read_one("SELECT actor, action, detail FROM audit_log ORDER BY id DESC")
    assert (last["actor"], last["action"]) == ("S0001", "staff.logout")
    assert json.loads(last["detail"] or "{}") is not None

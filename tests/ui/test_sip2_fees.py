"""The fee and renewal screens under Xvfb beside the test ILS (pysip2's real server on
127.0.0.1): a reader's fines are the ILS's (63/64), paid with a payment code through the kiosk's
payment, then posted with 37 carrying our receipt number; a reader the ILS knows and we do not
pays with their ILS number and PIN, and the ILS's refusal of the 37 is shown and lands in the
staff-mode exception report; the renewal screen shows and weighs what is owed at the ILS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kiosk.services import build_services
from kiosk.services.circulation import CirculationDesk, Forwarder
from kiosk.services.common import Role, StaffSession
from kiosk.services.config import ServicesConfig
from library_core import i18n
from library_core.money import format_fen
from server_client.sip2.circulation import Sip2Circulation
from server_client.sip2.client import Sip2Client, Sip2Login
from server_client.sip2.queue import StoreForwardQueue
from server_client.sip2.wire import Endpoint
from server_client.sip2.wiring import IlsRuntime
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.services import WECHAT_CODE
from tests.support.test_ils import (
    INSTITUTION,
    LOCATION,
    PASSWORD,
    USER,
    IlsFine,
    IlsPatron,
    TestIls,
    test_ils,  # noqa: F401  (fixture)
)
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import journal_receipt, seed_reader

pytestmark = pytest.mark.ui

ILS_ONLY, ILS_ONLY_PIN = "8800012345", "4321"
SWAPPED = ("cards", "returns", "ils", "ils_runtime")


@pytest.fixture
def ils_kiosk(kiosk_ui: Any, test_ils: TestIls) -> Iterator[tuple[Any, TestIls, IlsRuntime]]:  # noqa: F811
    """The session's kiosk with its cards, fees and returns beside the test ILS."""
    d = kiosk_ui
    p = d.parts
    client = Sip2Client(Endpoint("127.0.0.1", test_ils.port),
                        Sip2Login(USER, PASSWORD, LOCATION, INSTITUTION), p.clock,
                        timeout_s=10.0, min_backoff_s=0.0, max_backoff_s=0.0)
    desk = CirculationDesk(Sip2Circulation(client), StoreForwardQueue(p.store))
    runtime = IlsRuntime(client, desk, Forwarder(desk, p.clock))
    wired = build_services(p.store, p.clock, p.gateway, p.card_reader,
                           ServicesConfig.from_settings(p.settings), desk=desk)
    services = d.app.ctx.backend.services
    saved = {k: services.get(k) for k in SWAPPED}
    last = p.store.read_one("SELECT coalesce(max(queue_id), 0) FROM ils_queue")[0]
    services.update(cards=wired.cards, returns=wired.returns, ils=wired.ils, ils_runtime=runtime)
    test_ils.patrons[ILS_ONLY] = IlsPatron(ILS_ONLY, "王五", ILS_ONLY_PIN,
                                           [IlsFine("F9", 1200, "活着 逾期")])
    yield d, test_ils, runtime
    services.update(saved)
    with p.store.transaction() as tx:  # the session's store: leave no ILS exception behind
        tx.execute("DELETE FROM ils_queue WHERE queue_id > ?", (last,))
    client.close()
    d.app.staff = None
    d.app.home()
    d.pump()


def line(key: str, **params: Any) -> str:
    return i18n.translate(key, "zh_CN", **params)


def enter_ils_number(d: Any, number: str, pin: str) -> None:
    """From home, the fees screen's "ILS number" way in: the number, then the PIN."""
    d.app.home()
    d.pump()
    d.press(key="home.fees")
    d.press(key="fees.ils_number")
    d.type_digits(number)
    d.press(key="nav.next")
    d.type_digits(pin)
    d.press(key="nav.next")


def card_no_of(d: Any, reader_id: str) -> str:
    row = d.parts.store.read_one("SELECT card_no FROM cards WHERE reader_id = ?", (reader_id,))
    return str(row["card_no"])


def test_a_readers_ils_fines_shown_paid_and_posted_with_our_transaction_id(ils_kiosk: Any) -> None:
    d, ils, _runtime = ils_kiosk
    uid = b"\x04\x15\x00\x01"
    reader_id = seed_reader(d, uid, name="孙丽")
    card_no = card_no_of(d, reader_id)
    ils.patrons[card_no] = IlsPatron(card_no, "孙丽", "", [IlsFine("F1", 350, "红楼梦 逾期"),
                                                            IlsFine("F2", 150, "围城 逾期")])
    jobs = len(d.parts.printer.jobs)
    d.press(key="home.fees")
    d.tap_card(uid)
    assert d.app.sm.current == "fees" and d.app.screen.step == 1, d.app.screen.error
    shown = d.texts()
    assert line("fees.ils_line", text="红楼梦 逾期", amount=format_fen(350)) in shown  # the ILS's
    assert line("fees.ils_line", text="围城 逾期", amount=format_fen(150)) in shown
    assert line("fees.ils_owed", amount=format_fen(500)) in shown
    assert ils.frames_of("63")  # read with patron information
    d.press(key="fees.ils_pay_all")
    assert d.app.screen.step == 2
    d.scan(WECHAT_CODE)
    assert d.app.sm.current == "receipt", d.app.screen.error
    receipt_no = d.app.screen.receipt_no
    assert ils.payments[receipt_no] == (card_no, 500)  # 37 with our transaction id
    assert any(b"BK" + receipt_no.encode() in f for f in ils.frames_of("37"))
    assert ils.patrons[card_no].owed == 0
    shown = d.texts()
    assert line("fees.ils_posted", message="-") in shown
    assert line("summary.paid", value=format_fen(500)) in shown
    assert len(d.parts.printer.jobs) == jobs + 1
    texts = [x.text for x in journal_receipt(d, receipt_no).lines]
    assert "红楼梦 逾期" in texts and "围城 逾期" in texts
    assert d.parts.store.count("outbox", "kind = 'ils.fee_paid' AND payload LIKE ?",
                               (f"%{receipt_no}%",)) == 1  # for the record server's books
    d.press(key="nav.done")
    d.remove_card()


def test_a_reader_known_only_to_the_ils_pays_and_the_ils_refusal_is_shown_and_kept(
        ils_kiosk: Any) -> None:
    d, ils, runtime = ils_kiosk
    d.press(key="home.fees")
    d.press(key="fees.ils_number")
    d.type_digits(ILS_ONLY)
    d.press(key="nav.next")
    d.type_digits("0000")  # a wrong PIN: refused by name, nothing shown
    d.press(key="nav.next")
    assert d.app.screen.error == line("ils.patron_pin_wrong", attempts_left=4)  # counted
    assert "活着" not in d.texts()
    enter_ils_number(d, ILS_ONLY, ILS_ONLY_PIN)
    assert d.app.screen.step == 1, d.app.screen.error
    assert line("fees.ils_line", text="活着 逾期", amount=format_fen(1200)) in d.texts()
    assert line("fees.ils_title", name="王*") in d.texts()  # masked
    ils.refuse_payments = "账户已冻结 / account frozen"
    d.press(key="fees.ils_pay_all")
    d.scan(WECHAT_CODE)
    assert d.app.sm.current == "receipt", d.app.screen.error
    receipt_no = d.app.screen.receipt_no
    assert receipt_no not in ils.payments
    assert line("fees.ils_refused", message="账户已冻结 / account frozen") in d.texts()
    d.press(key="nav.done")
    [kept] = runtime.desk.queue.exceptions()
    assert kept.payload["transaction_id"] == receipt_no and kept.payload["amount"] == 1200

    # staff mode: the exception report lists the refused posting with the ILS's words
    d.app.staff = StaffSession("S0001", "王芳", Role("desk"), d.parts.clock.now())
    d.app.go("staff")
    d.pump()
    d.press(key="staff.ils_exceptions")
    d.pump()
    assert line("staff.ils_exception.fee_paid", at=kept.queued_at.strftime("%m-%d %H:%M"),
                item="", answer="账户已冻结 / account frozen", patron=ILS_ONLY,
                transaction_id=receipt_no, amount=format_fen(1200)) in d.texts()


def test_renewal_shows_and_weighs_what_is_owed_at_the_ils(ils_kiosk: Any) -> None:
    d, ils, _runtime = ils_kiosk
    uid = b"\x04\x15\x00\x02"
    reader_id = seed_reader(d, uid, name="周强")
    card_no = card_no_of(d, reader_id)
    ils.patrons[card_no] = IlsPatron(card_no, "周强", "", [IlsFine("F1", 6000, "丢失图书赔偿")])
    d.tap_card(uid)
    assert d.app.sm.current == "renewal"
    assert line("summary.owed", value=format_fen(6000)) in d.texts()  # the ILS's, not ours (0)
    d.press(key="renewal.renew")
    d.tap(d.find_all(key="renewal.period_option")[0])
    limit = d.parts.settings.fees.renewal_refused_above
    assert d.app.screen.error == line("fees.owed_above_limit", owed_text=format_fen(6000),
                                      limit_text=format_fen(limit))
    # the way out: the fees screen, with the ILS's fines
    d.press(key="home.fees")
    assert d.app.sm.current == "fees" and d.app.screen.step == 1, d.app.screen.error
    assert line("fees.ils_line", text="丢失图书赔偿", amount=format_fen(6000)) in d.texts()
    d.remove_card()

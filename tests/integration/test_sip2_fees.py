"""ILS fines at the kiosk (issue 15) through real parts: the kiosk's store and use cases with the
SIP2 adapter against the test ILS over TCP, the simulated payment provider, and for the books
the record server process (real sync client) and the console's finance page in Chromium.

- a reader of ours: fines read from the ILS (63/64), paid through the kiosk's payment, posted
  with 37 carrying our receipt number; the money is in our day's books and goes to the server
  as ``ils.fee_paid``;
- a reader the ILS knows and we do not pays with their ILS number and PIN; a wrong PIN, an
  unknown number or a hostile id is refused by name before any charge;
- renewal weighs what is owed at the ILS, not our store;
- the server books the payment as paid to the ILS: the ledger names it, the day totals and the
  close-of-day figures include it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from kiosk.services.common import Tender
from kiosk.services.errors import FeesOwed
from kiosk.services.ils_account import POSTED, REFUSED
from library_core import i18n
from library_core.errors import DomainError
from server_client.sync import RecordServerClient, SyncEngine
from tests.integration.test_sip2_circulation import IlsEnv, make_ils_env
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    log_in,
    start_console_server,
)
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import WECHAT_CODE
from tests.support.test_ils import IlsFine, IlsPatron, TestIls
from tests.support.test_ils import test_ils as test_ils  # noqa: F401  (fixture)

ILS_ONLY, ILS_ONLY_PIN = "8800012345", "4321"  # a patron of the ILS with no card of ours


@pytest.fixture
def e(tmp_path: Path, test_ils: TestIls) -> Iterator[IlsEnv]:  # noqa: F811
    env = make_ils_env(tmp_path / "kiosk.sqlite3", test_ils)
    test_ils.patrons[ILS_ONLY] = IlsPatron(ILS_ONLY, "王五", ILS_ONLY_PIN,
                                           [IlsFine("F9", 1200, "活着 逾期")])
    yield env
    env.client.close()
    env.env.store.close()


def our_reader_at_the_ils(e: IlsEnv, fines: list[IlsFine]) -> Any:
    """A reader with a card of ours, whose card number is their patron id at the ILS."""
    card = e.env.new_card(7)
    e.ils.patrons[card.card_no] = IlsPatron(card.card_no, "赵六", "", fines)
    return card


def outbox(e: IlsEnv, kind: str) -> list[dict[str, Any]]:
    return [ev["payload"] for ev in e.env.store.pending_events(1000) if ev["kind"] == kind]


def test_a_readers_ils_fines_are_paid_then_posted_with_our_transaction_id(e: IlsEnv) -> None:
    card = our_reader_at_the_ils(e, [IlsFine("F1", 350, "红楼梦 逾期"), IlsFine("F2", 150, "围城 逾期")])
    ils = e.env.services.ils
    assert ils is not None
    account = ils.account(card.card_no)
    assert account.owed == 500 and [f.fine_id for f in account.fines] == ["F1", "F2"]
    charges = len(e.env.gateway.charges)
    result = ils.pay(card.card_no, Tender.payment_code(WECHAT_CODE), reader_id=card.reader_id)
    assert result.posting == POSTED and result.amount == 500
    assert len(e.env.gateway.charges) == charges + 1  # the kiosk's payment took the money
    receipt_no = result.receipt.receipt_no
    assert e.ils.payments[receipt_no] == (card.card_no, 500)  # 37 with our transaction id
    [frame] = [f for f in e.ils.frames_of("37") if receipt_no.encode() in f]
    assert b"BK" + receipt_no.encode() in frame
    assert e.ils.patrons[card.card_no].owed == 0
    # our books: the payment in the day's figures, and the event for the record server
    z = e.env.services.staff.end_of_day_report(e.env.desk())  # the kiosk's Z-report
    assert z.taken_total == 500 + e.env.store.read_one(
        "SELECT amount FROM payments WHERE receipt_no != ?", (receipt_no,))[0]  # + the card
    [booked] = outbox(e, "ils.fee_paid")
    assert (booked["patron"], booked["reader_id"], booked["amount"], booked["receipt_no"],
            booked["method"]) == (card.card_no, card.reader_id, 500, receipt_no, "wechat")
    assert booked["transaction_id"]


def test_a_reader_known_only_to_the_ils_pays_with_their_ils_number_and_pin(e: IlsEnv) -> None:
    ils = e.env.services.ils
    assert ils is not None
    charges = len(e.env.gateway.charges)
    for number, pin, reason in ((ILS_ONLY, "0000", "ils.patron_pin_wrong"),
                                (ILS_ONLY, "", "ils.patron_pin_wrong"),
                                ("8800099999", "4321", "ils.patron_unknown"),
                                ("P|0001", "1234", "ils.patron_invalid"),
                                ("x" * 65, "1234", "ils.patron_invalid")):
        with pytest.raises(DomainError) as refused:  # a wrong PIN is counted (IlsPinWrong)
            ils.pay(number, Tender.payment_code(WECHAT_CODE), password=pin)
        assert refused.value.message_id == reason
    assert len(e.env.gateway.charges) == charges  # nothing charged
    assert outbox(e, "ils.fee_paid") == [] and e.ils.payments == {}
    result = ils.pay(ILS_ONLY, Tender.payment_code(WECHAT_CODE), password=ILS_ONLY_PIN)
    assert result.posting == POSTED and e.ils.payments[result.receipt.receipt_no] == (ILS_ONLY, 1200)
    [booked] = outbox(e, "ils.fee_paid")
    assert booked["patron"] == ILS_ONLY and booked["reader_id"] is None


def test_a_refused_37_is_shown_and_kept_for_staff_and_the_money_is_still_booked(e: IlsEnv) -> None:
    card = our_reader_at_the_ils(e, [IlsFine("F1", 800, "三体 逾期")])
    ils = e.env.services.ils
    assert ils is not None
    e.ils.refuse_payments = "账户已冻结 / account frozen"
    result = ils.pay(card.card_no, Tender.payment_code(WECHAT_CODE), reader_id=card.reader_id)
    assert result.posting == REFUSED and result.messages == ("账户已冻结 / account frozen",)
    [kept] = e.desk.queue.exceptions()
    assert kept.payload["transaction_id"] == result.receipt.receipt_no
    assert [p["key"] for p in outbox(e, "ils.refused")] == [result.receipt.receipt_no]
    assert [p["amount"] for p in outbox(e, "ils.fee_paid")] == [800]  # money taken is booked


def test_renewal_weighs_fees_owed_at_the_ils_not_our_store(e: IlsEnv) -> None:
    card = our_reader_at_the_ils(e, [IlsFine("F1", 6000, "丢失图书赔偿")])  # over the 50.00 limit
    cards, ils = e.env.services.cards, e.env.services.ils
    assert ils is not None
    uid, raw = e.env.writer.tapped()
    summary = cards.identify_card(uid, raw, allow_expired=True)
    assert summary.balance_owed == 0  # our store: nothing owed
    with pytest.raises(FeesOwed) as refused:
        cards.quote_renewal(summary, 12)
    assert refused.value.params["owed"] == 6000
    charges = len(e.env.gateway.charges)
    with pytest.raises(FeesOwed):
        cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    assert len(e.env.gateway.charges) == charges
    ils.pay(card.card_no, Tender.payment_code(WECHAT_CODE), reader_id=card.reader_id)
    assert cards.quote_renewal(summary, 12).months == 12
    assert cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE)).amount > 0


@pytest.fixture(name="console")
def console_fixture(server_factory: Callable[..., ServerProcess]) -> ServerProcess:  # noqa: F811
    return start_console_server(server_factory)


def _rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def test_ils_fine_payments_are_booked_by_the_server_as_paid_to_the_ils(
        e: IlsEnv, console: ServerProcess, browser: Browser) -> None:
    card = our_reader_at_the_ils(e, [IlsFine("F1", 350, "红楼梦 逾期")])
    ils = e.env.services.ils
    assert ils is not None
    ours = ils.pay(card.card_no, Tender.payment_code(WECHAT_CODE), reader_id=card.reader_id)
    theirs = ils.pay(ILS_ONLY, Tender.payment_code(WECHAT_CODE), password=ILS_ONLY_PIN)
    token = console.enroll("K01")
    engine = SyncEngine(e.env.store, RecordServerClient(console.url, "K01", token),
                        clock=e.env.clock)
    engine.sync_once()
    assert e.env.store.pending_count() == 0
    rows = _rows(console, "SELECT receipt_no, kind, method, amount, reader_id FROM payments"
                          " WHERE kind = 'ils' ORDER BY receipt_no")
    assert [tuple(r) for r in rows] == [
        (ours.receipt.receipt_no, "ils", "wechat", 350, card.reader_id),
        (theirs.receipt.receipt_no, "ils", "wechat", 1200, None)]
    assert not _rows(console, "SELECT * FROM events WHERE kind = 'ils.fee_paid'"
                              " AND status != 'applied'")
    day = e.env.clock.now().date()
    taken = e.env.services.staff.end_of_day_report(e.env.desk()).taken_total
    for lang in ("zh_CN", "en"):
        page = log_in(browser, console, "supervisor", lang=lang)
        page.goto(f"/console/finance?period=day&day={day.isoformat()}")
        ledger = page.inner_text("#ledger")
        assert ledger.count(i18n.translate("console.fin.kind.ils", lang)) == 2, ledger
        assert ours.receipt.receipt_no in ledger and theirs.receipt.receipt_no in ledger
        # the day's total is every fen the kiosk took: the new card and both ILS payments
        assert f"¥{taken // 100}.{taken % 100:02d}" in page.inner_text("#by-day")
        page.close()

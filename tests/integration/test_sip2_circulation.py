"""The circulation port's SIP2 adapter in the kiosk's use cases, against the test ILS over real
TCP and the real kiosk store: returns checked in at the ILS (its answer on screen and receipt),
the offline queue (policy, cap, durable, forwarded in order once, refusals for staff), a fee
paid through the kiosk's payment then 37, and a card reported lost then 01."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.services import build_services
from kiosk.services.circulation import CirculationDesk, Forwarder, OfflinePolicy
from kiosk.services.common import Tender
from kiosk.services.ils_account import POSTED, QUEUED, REFUSED
from kiosk.services.returns import ReturnOutcome
from server_client.sip2.circulation import Sip2Circulation, fen_of, parse_fine_item
from server_client.sip2.client import Sip2Client, Sip2Login, sip_datetime
from server_client.sip2.queue import StoreForwardQueue
from server_client.sip2.wire import Endpoint
from server_client.store import Store
from tests.support.services import (
    WECHAT_CODE,
    OutboxReaderPins,
    ServicesEnv,
    make_env,
    make_reader,
    resident_id,
)
from tests.support.test_ils import (
    INSTITUTION,
    LOCATION,
    ON_HOLD,
    ON_LOAN,
    ON_SHELF,
    OVERDUE,
    PASSWORD,
    UNKNOWN_ITEM,
    USER,
    IlsPatron,
    TestIls,
    test_ils,  # noqa: F401  (fixture)
)

UNKNOWN = UNKNOWN_ITEM


@dataclasses.dataclass
class IlsEnv:
    env: ServicesEnv
    ils: TestIls
    client: Sip2Client
    desk: CirculationDesk
    forwarder: Forwarder


def make_ils_env(path: Path, ils: TestIls, *, policy: OfflinePolicy = OfflinePolicy.CHECKIN,
                 cap: int = 200, sip2_timeout_s: float = 10.0, **config: Any) -> IlsEnv:
    """``config``: ``ServicesConfig`` fields for the kiosk (``make_env``). ``sip2_timeout_s``:
    the client's answer deadline, generous (the test ILS is a thread of this process, late on
    a loaded machine) unless a test is about the deadline."""
    env = make_env(path, **config)
    client = Sip2Client(Endpoint("127.0.0.1", ils.port),
                        Sip2Login(USER, PASSWORD, LOCATION, INSTITUTION), env.clock,
                        timeout_s=sip2_timeout_s, min_backoff_s=0.0, max_backoff_s=0.0)
    desk = CirculationDesk(Sip2Circulation(client), StoreForwardQueue(env.store), policy, cap)
    # the staff log-in make_env wired (the stand-in, or the record server's when given)
    extra = {"staff_authority": env.services.staff.authority}
    services = build_services(env.store, env.clock, env.gateway, env.writer, env.config,
                              reader_pins=OutboxReaderPins(env.store, env.clock), desk=desk,
                              **extra)
    assert services.forwarder is not None
    return IlsEnv(dataclasses.replace(env, services=services), ils, client, desk,
                  services.forwarder)


@pytest.fixture
def ils_env(tmp_path: Path, test_ils: TestIls) -> Iterator[IlsEnv]:  # noqa: F811
    e = make_ils_env(tmp_path / "kiosk.sqlite3", test_ils)
    yield e
    e.client.close()
    e.env.store.close()


def down(e: IlsEnv) -> None:
    """The ILS stops answering (every next frame dropped)."""
    for code in ("09", "37", "01", "93"):
        for _ in range(20):
            e.ils.fault(code, "drop")


def up(e: IlsEnv) -> None:
    e.ils.faults.clear()


def test_returns_checked_in_at_the_ils_and_its_answer_printed(ils_env: IlsEnv) -> None:
    svc = ils_env.env.services
    session = svc.returns.start()
    normal, hold, unknown, shelf = (session.scan(b) for b in (ON_LOAN, ON_HOLD, UNKNOWN, ON_SHELF))
    again = session.scan(ON_LOAN)
    assert (normal.outcome, normal.title, normal.sort_bin) == (ReturnOutcome.RETURNED, "红楼梦", "A1")
    assert (hold.outcome, hold.hold, hold.sort_bin) == (ReturnOutcome.RETURNED, True, "HOLD")
    assert unknown.outcome is ReturnOutcome.UNKNOWN_ITEM and unknown.to_desk
    assert unknown.messages == ("无此条码，请交给服务台", "Unknown item: please hand it to the desk")
    assert shelf.outcome is ReturnOutcome.NOT_ON_LOAN and shelf.title == "活着"
    assert again.outcome is ReturnOutcome.ALREADY_RETURNED
    assert ils_env.ils.checkins == [ON_LOAN, ON_HOLD, UNKNOWN, ON_SHELF]  # the repeat not sent
    receipt = session.finish()
    assert receipt is not None
    texts = [line.text for line in receipt.lines]
    keys = [line.key or line.detail_key for line in receipt.lines]
    assert "已还 Returned: 红楼梦" in texts and "已还 Returned: 三体" in texts  # ILS print lines
    assert "receipt.line.hold" in keys and "receipt.line.unknown_item" in keys
    assert "Unknown item: please hand it to the desk" in texts
    audit = ils_env.env.store.read("SELECT action, subject FROM audit_log WHERE action LIKE 'ils.%'")
    assert [(r["action"], r["subject"]) for r in audit][:2] == [("ils.checkin", ON_LOAN),
                                                                ("ils.checkin", ON_HOLD)]
    assert ils_env.env.store.count("outbox", "kind = 'loan.returned'") == 0  # the ILS owns loans


def test_offline_returns_queued_durably_then_forwarded_in_order_once(tmp_path: Path,
                                                                    test_ils: TestIls) -> None:  # noqa: F811
    e = make_ils_env(tmp_path / "k.sqlite3", test_ils)
    try:
        down(e)
        session = e.env.services.returns.start()
        results = [session.scan(b) for b in (ON_LOAN, ON_SHELF, OVERDUE)]
        session.scan(ON_LOAN)  # the same item again while offline
        assert [r.outcome for r in results] == [ReturnOutcome.QUEUED] * 3
        assert e.desk.queue.pending_count() == 3 and test_ils.checkins == []
        assert not e.client.link().up
        receipt = session.finish()
        assert receipt is not None and [f for f in receipt.fields if f[0] == "receipt.field.items"
                                        ] == [("receipt.field.items", "3")]
        assert "receipt.line.queued" in [line.detail_key for line in receipt.lines]
    finally:
        e.client.close()
        e.env.store.close()
    # the kiosk restarts: the queue is in its store
    store = Store.open(tmp_path / "k.sqlite3", kiosk_id="K01")
    try:
        queue = StoreForwardQueue(store)
        assert [q.payload["item"] for q in queue.pending()] == [ON_LOAN, ON_SHELF, OVERDUE]
        client = Sip2Client(Endpoint("127.0.0.1", test_ils.port),
                            Sip2Login(USER, PASSWORD, LOCATION, INSTITUTION), e.env.clock,
                            min_backoff_s=0.0)
        desk = CirculationDesk(Sip2Circulation(client), queue)
        up(e)
        assert Forwarder(desk, e.env.clock).forward() == (2, 1)  # 活着 is not on loan: refused
        assert test_ils.checkins == [ON_LOAN, ON_SHELF, OVERDUE]  # in order
        assert Forwarder(desk, e.env.clock).forward() == (0, 0)  # nothing sent twice
        assert test_ils.checkins == [ON_LOAN, ON_SHELF, OVERDUE]
        [refused] = queue.exceptions()
        assert refused.payload == {"item": ON_SHELF} and "未借出" in refused.answer
        assert test_ils.patrons["P0002"].owed == 150  # the late return's fine, at the ILS
        # forwarded with the time the reader returned it
        returned = sip_datetime(e.env.clock.now()).encode()
        assert all(f[2:3] == b"Y" and f[21:39] == returned for f in test_ils.frames_of("09"))
        client.close()
    finally:
        store.close()


def test_offline_policy_off_and_cap(tmp_path: Path, test_ils: TestIls) -> None:  # noqa: F811
    off = make_ils_env(tmp_path / "a.sqlite3", test_ils, policy=OfflinePolicy.OFF)
    capped = make_ils_env(tmp_path / "b.sqlite3", test_ils, cap=1)
    try:
        down(off)
        r = off.env.services.returns.check_in(ON_LOAN)
        assert r.outcome is ReturnOutcome.ILS_UNREACHABLE and r.to_desk
        assert off.desk.queue.pending_count() == 0
        first, second = (capped.env.services.returns.check_in(b) for b in (ON_LOAN, OVERDUE))
        assert (first.outcome, second.outcome) == (ReturnOutcome.QUEUED,
                                                   ReturnOutcome.ILS_UNREACHABLE)
        assert capped.desk.queue.pending_count() == 1
    finally:
        for x in (off, capped):
            x.client.close()
            x.env.store.close()


def test_fee_paid_through_the_kiosk_payment_then_37(ils_env: IlsEnv) -> None:
    ils_svc = ils_env.env.services.ils
    assert ils_svc is not None
    account = ils_svc.account("P0001")
    assert (account.name, account.owed) == ("张三", 350)
    assert account.fines[0].description == "红楼梦 逾期"
    result = ils_svc.pay("P0001", Tender.payment_code(WECHAT_CODE))
    assert (result.posting, result.amount) == (POSTED, 350)
    [frame] = ils_env.ils.frames_of("37")
    assert f"BK{result.receipt.receipt_no}|".encode() in frame and b"BV3.50|" in frame
    assert ils_env.ils.payments == {result.receipt.receipt_no: ("P0001", 350)}
    assert ils_env.ils.patrons["P0001"].owed == 0
    assert ils_env.env.gateway.charges[-1].amount == 350  # the kiosk's payment took it
    journal = ils_env.env.store.count("receipts", "receipt_no = ?", (result.receipt.receipt_no,))
    assert journal == 1


def test_fee_paid_refused_by_the_ils_is_shown_and_kept_for_staff(ils_env: IlsEnv) -> None:
    ils_svc = ils_env.env.services.ils
    assert ils_svc is not None
    # the ILS refuses the posting (it has another idea of the patron): shown, reported
    ils_env.ils.patrons["P0001"].fines[0].amount = 350
    original = ils_env.ils._fee_paid

    def refuse(req: object) -> object:
        ils_env.ils.patrons["P0001"].fines.clear()  # paid at the desk meanwhile
        return original(req)  # type: ignore[arg-type]

    ils_env.ils._fee_paid = refuse  # type: ignore[method-assign]
    result = ils_svc.pay("P0001", Tender.payment_code(WECHAT_CODE))
    assert result.posting == REFUSED and result.messages == ("金额超过欠费 / more than is owed",)
    [report] = ils_env.desk.queue.exceptions()
    assert report.payload["transaction_id"] == result.receipt.receipt_no


def test_fee_paid_while_the_ils_is_down_waits_when_the_policy_allows(tmp_path: Path,
                                                                     test_ils: TestIls) -> None:  # noqa: F811
    e = make_ils_env(tmp_path / "k.sqlite3", test_ils, policy=OfflinePolicy.CHECKIN_AND_FEES)
    try:
        ils_svc = e.env.services.ils
        assert ils_svc is not None
        test_ils.fault("37", "drop")
        result = ils_svc.pay("P0001", Tender.payment_code(WECHAT_CODE), amount=100)
        assert result.posting == QUEUED and test_ils.payments == {}
        assert e.forwarder.forward() == (1, 0)
        assert test_ils.payments == {result.receipt.receipt_no: ("P0001", 100)}
    finally:
        e.client.close()
        e.env.store.close()


def test_hostile_amounts_refused_before_any_charge(ils_env: IlsEnv) -> None:
    ils_svc = ils_env.env.services.ils
    assert ils_svc is not None
    charges = len(ils_env.env.gateway.charges)
    for amount in (0, -5, 351, True):
        with pytest.raises(Exception) as err:
            ils_svc.pay("P0001", Tender.payment_code(WECHAT_CODE), amount=amount)  # type: ignore[arg-type]
        assert getattr(err.value, "message_id", "").startswith(("payment.", "money."))
    assert len(ils_env.env.gateway.charges) == charges and ils_env.ils.frames_of("37") == []
    assert ils_env.ils.checkins == []
    r = ils_env.env.services.returns.check_in("3100|AOEVIL")
    assert r.outcome is ReturnOutcome.UNKNOWN_ITEM and ils_env.ils.checkins == []


def test_card_reported_lost_blocks_the_patron_with_01(ils_env: IlsEnv) -> None:
    env = ils_env.env
    env.writer.place_blank()
    card = env.services.cards.new_card(make_reader(7), Tender.payment_code(WECHAT_CODE))
    ils_env.ils.patrons[card.card_no] = IlsPatron(card.card_no, "读者七")
    auth = env.services.cards.verify_reader(resident_id(7), "246813")
    blocked = env.services.cards.report_lost(auth)
    assert blocked == [card.card_no]
    [frame] = ils_env.ils.frames_of("01")
    assert f"AA{card.card_no}|".encode() in frame
    assert ils_env.ils.patrons[card.card_no].blocked == "读者证挂失 card reported lost"
    assert env.store.read_one("SELECT status FROM cards WHERE card_no = ?",
                              (card.card_no,))["status"] == "lost"


def test_ils_amounts_and_fine_items_parsed() -> None:
    assert [fen_of(a) for a in ("12.50", "12.5", "3", "-1.00", "", None, "abc")] == [
        1250, 1250, 300, -100, 0, 0, 0]
    assert parse_fine_item("F1 3.50 红楼梦 逾期").amount == 350
    assert parse_fine_item("lost book").description == "lost book"

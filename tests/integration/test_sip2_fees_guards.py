"""The guards around ILS fines at the kiosk (issue 15), through real parts: the kiosk's store and
use cases with the SIP2 adapter against the test ILS over loopback TCP, the simulated payment
provider, the stand-in record server's staff log-in (offline verifier).

- a reader only the ILS knows gives their ILS number and PIN: wrong PINs are counted at the
  kiosk by its one lockout rule (5 in a row lock, 1 minute first), keyed by a keyed hash of
  the number (the store never holds it); while locked nothing is sent, paid or posted;
- the ILS's patron status flags (a block, a limit), screen messages (AF) and print lines (AG)
  come with the account as sent; renewal (the card, and a loan's 29) is refused while the ILS
  denies renewal privileges;
  a malformed 64 or an ILS that drops is refused by name and changes nothing;
- cash ILS payments under an offline staff log-in count towards the offline limits like our
  own cash payments (the same rule, ``library_core.staff_rules.offline_amount``), at the kiosk
  and at the record server (its process: the offline staff action booked with its amount, a
  forged one over its limit refused).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kiosk.services.common import Tender
from kiosk.services.errors import PinLocked
from kiosk.services.ils_account import POSTED, IlsRenewalDenied
from kiosk.services.ils_pins import IlsPinWrong, patron_key
from kiosk.services.staff_auth import ServerStaffAuthority
from library_core import i18n
from library_core.clock import CHINA_TZ, FixedClock
from library_core.errors import SyncError, ValidationError
from library_core.staff_rules import OfflineStaffPolicy, OfflineStaffRefused
from record_server import models as m
from record_server import staff_tables as st
from record_server.db import Database
from server_client.sync import RecordServerClient, SyncEngine
from tests.integration.test_sip2_circulation import IlsEnv, make_ils_env
from tests.integration.test_staff_authority import _forged, _mac, _push_before
from tests.support.server_process import (  # noqa: F401
    STAFF_PIN,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)
from tests.support.services import DESK, WECHAT_CODE, make_reader
from tests.support.test_ils import ON_LOAN, IlsFine, IlsPatron, TestIls
from tests.support.test_ils import test_ils as test_ils  # noqa: F401  (fixture)

SERVER_DESK = "S0002"  # server_fixture's desk staff (PIN STAFF_PIN)
ILS_ONLY, ILS_ONLY_PIN = "8800012345", "4321"  # patrons of the ILS with no card of ours
OTHER, OTHER_PIN = "8800054321", "8765"
# flags 1, 2 and 11 of SIP2's 14: charge and renewal privileges denied, excessive fines
BLOCKED = "YY" + " " * 8 + "Y" + " " * 3


@pytest.fixture
def e(tmp_path: Path, test_ils: TestIls) -> Iterator[IlsEnv]:  # noqa: F811
    env = make_ils_env(tmp_path / "kiosk.sqlite3", test_ils, offline_staff=OfflineStaffPolicy(
        cash_limit_fen=20_000, day_cash_limit_fen=15_000))
    test_ils.patrons[ILS_ONLY] = IlsPatron(ILS_ONLY, "王五", ILS_ONLY_PIN,
                                           [IlsFine("F9", 1200, "活着 逾期")])
    test_ils.patrons[OTHER] = IlsPatron(OTHER, "钱七", OTHER_PIN, [IlsFine("F8", 300, "围城 逾期")])
    yield env
    env.client.close()
    env.env.store.close()


def ils_of(e: IlsEnv) -> Any:
    ils = e.env.services.ils
    assert ils is not None
    return ils


def untouched(e: IlsEnv) -> tuple[Any, ...]:
    """What a refused payment must leave as it was: the charges, our books, the ILS's."""
    return (len(e.env.gateway.charges), e.env.snapshot(), dict(e.ils.payments),
            {p: e.ils.patrons[p].owed for p in e.ils.patrons}, len(e.ils.frames_of("37")))


def test_wrong_ils_pins_are_counted_at_the_kiosk_and_lock_it_before_anything_is_sent(
        e: IlsEnv, tmp_path: Path) -> None:
    ils = ils_of(e)
    before = untouched(e)
    for left in (4, 3, 2, 1):
        with pytest.raises(IlsPinWrong) as wrong:
            ils.pay(ILS_ONLY, Tender.payment_code(WECHAT_CODE), password="0000")
        assert wrong.value.message_id == "ils.patron_pin_wrong"
        assert wrong.value.params["attempts_left"] == left
    for lang, words in (("zh_CN", "还可尝试 1 次"), ("en", "1 tries left")):
        assert words in i18n.translate("ils.patron_pin_wrong", lang, **wrong.value.params)
    with pytest.raises(PinLocked) as locked:  # the fifth wrong PIN in a row locks
        ils.account(ILS_ONLY, password="9999")
    assert locked.value.params["minutes"] == 1
    for lang, words in (("zh_CN", "密码错误次数过多，请 1 分钟后再试"), ("en", "try again in 1 minutes")):
        assert words in i18n.translate("pin.locked", lang, **locked.value.params)
    # locked: the right PIN too is refused before anything goes to the ILS
    sent = len(e.ils.frames_of("63"))
    with pytest.raises(PinLocked):
        ils.pay(ILS_ONLY, Tender.payment_code(WECHAT_CODE), password=ILS_ONLY_PIN)
    assert len(e.ils.frames_of("63")) == sent
    assert untouched(e) == before  # nothing charged, booked, posted
    # another patron is not locked by this one's count
    assert ils.account(OTHER, password=OTHER_PIN).owed == 300
    # the store keeps the keyed hash of the number, never the number
    key = patron_key(ILS_ONLY, e.env.config.library_key)
    rows = [tuple(r) for r in e.env.store.read("SELECT * FROM ils_pin_attempts")]
    assert [r[:2] for r in rows] == [(key, 5)]
    audit = e.env.store.read("SELECT subject, detail FROM audit_log WHERE action = 'pin.failed'")
    assert [r["subject"] for r in audit] == [f"ils:{key[:16]}"] * 5
    for path in tmp_path.glob("kiosk.sqlite3*"):
        assert ILS_ONLY.encode() not in path.read_bytes(), path
    # after the lock: the right PIN pays, and the count starts again from nothing
    e.env.clock.advance(minutes=1, seconds=1)
    result = ils.pay(ILS_ONLY, Tender.payment_code(WECHAT_CODE), password=ILS_ONLY_PIN)
    assert result.posting == POSTED and e.ils.payments[result.receipt.receipt_no] == (ILS_ONLY, 1200)
    assert e.env.store.count("ils_pin_attempts") == 0


def test_an_ils_that_drops_or_an_unknown_number_is_not_counted_as_a_wrong_pin(e: IlsEnv) -> None:
    ils = ils_of(e)
    before = untouched(e)
    e.ils.fault("63", "drop")
    with pytest.raises(SyncError) as dropped:
        ils.pay(ILS_ONLY, Tender.payment_code(WECHAT_CODE), password="0000")
    assert dropped.value.message_id == "ils.unreachable"
    with pytest.raises(ValidationError) as unknown:
        ils.pay("8800099999", Tender.payment_code(WECHAT_CODE), password="0000")
    assert unknown.value.message_id == "ils.patron_unknown"
    with pytest.raises(ValidationError) as hostile:  # never sent, never counted
        ils.pay("8800|12345", Tender.payment_code(WECHAT_CODE), password="0000")
    assert hostile.value.message_id == "ils.patron_invalid"
    assert e.env.store.count("ils_pin_attempts") == 0
    assert untouched(e) == before
    with pytest.raises(IlsPinWrong) as wrong:  # the first counted one
        ils.account(ILS_ONLY, password="0000")
    assert wrong.value.params["attempts_left"] == 4


def our_reader_at_the_ils(e: IlsEnv, **kw: Any) -> Any:
    card = e.env.new_card(7)
    e.ils.patrons[card.card_no] = IlsPatron(card.card_no, "赵六", "", **kw)
    return card


def test_the_ils_block_messages_and_print_lines_come_with_the_account_and_deny_renewal(
        e: IlsEnv) -> None:
    card = our_reader_at_the_ils(
        e, fines=[IlsFine("F1", 800, "三体 逾期")], status=BLOCKED,
        messages=["请先到服务台缴清罚款 / Please pay your fines at the desk"],
        print_lines=["欠费合计 8.00 / Owed 8.00"])
    ils, cards = ils_of(e), e.env.services.cards
    account = ils.account(card.card_no)
    assert account.flags == ("charge_denied", "renewal_denied", "excessive_fines")
    assert account.renewal_denied and account.blocked
    assert account.screen_messages == ("请先到服务台缴清罚款 / Please pay your fines at the desk",)
    assert account.print_lines == ("欠费合计 8.00 / Owed 8.00",)
    uid, raw = e.env.writer.tapped()
    summary = cards.identify_card(uid, raw, allow_expired=True)
    before = untouched(e)
    with pytest.raises(IlsRenewalDenied) as denied:  # 8.00 owed is under the limit: the flag
        cards.quote_renewal(summary, 12)
    with pytest.raises(IlsRenewalDenied):
        cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    assert untouched(e) == before  # nothing charged, the card's expiry as it was
    for lang, words in (("zh_CN", "续期权限"), ("en", "renewal privileges")):
        assert words in i18n.translate(denied.value.message_id, lang)
    # the fines can still be paid (that is how a reader is unblocked)
    assert ils.pay(card.card_no, Tender.payment_code(WECHAT_CODE),
                   reader_id=card.reader_id).posting == POSTED
    e.ils.patrons[card.card_no].status = ""  # the ILS lifts the block
    assert cards.quote_renewal(summary, 12).months == 12
    # a loan's renewal (29) too: refused before anything is sent while renewal is denied
    e.ils.patrons["P0001"].status = BLOCKED
    with pytest.raises(IlsRenewalDenied):
        ils.renew("P0001", ON_LOAN)
    assert e.ils.frames_of("29") == []
    e.ils.patrons["P0001"].status = ""
    assert ils.renew("P0001", ON_LOAN).accepted and len(e.ils.frames_of("29")) == 1


def test_a_malformed_64_or_a_drop_is_refused_by_name_and_changes_nothing(e: IlsEnv) -> None:
    card = our_reader_at_the_ils(e, fines=[IlsFine("F1", 800, "三体 逾期")])
    ils, cards = ils_of(e), e.env.services.cards
    uid, raw = e.env.writer.tapped()
    before = untouched(e)
    for fault, reason in (("malformed", "ils.protocol"), ("drop", "ils.unreachable")):
        e.ils.fault("63", fault)  # 14 patron status flags as "N": not SIP2
        with pytest.raises(SyncError) as refused:
            ils.pay(card.card_no, Tender.payment_code(WECHAT_CODE), reader_id=card.reader_id)
        assert refused.value.message_id == reason
        e.ils.fault("63", fault)
        with pytest.raises(SyncError) as refused:
            cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
        assert refused.value.message_id == reason
    assert untouched(e) == before
    assert ils.account(card.card_no).owed == 800  # the next, well-formed answer is read


def offline_desk(e: IlsEnv) -> Any:
    """Desk staff logged in online once (the verifier), then offline."""
    stand_in = e.env.staff
    assert stand_in is not None
    e.env.services.staff.login(*DESK)
    stand_in.online = False
    desk = e.env.services.staff.login(*DESK)
    assert desk.offline
    return desk


def test_cash_ils_payments_under_an_offline_staff_log_in_count_towards_the_offline_limits(
        e: IlsEnv) -> None:
    ils = ils_of(e)
    e.ils.patrons["P0001"].fines = [IlsFine("F1", 5_000, "红楼梦 丢失赔偿")]
    e.ils.patrons["P0002"].fines = [IlsFine("F2", 25_000, "古籍 损坏赔偿")]
    desk = offline_desk(e)
    # within the limits: paid in cash and posted, and it counts (5,000 of the day's 15,000)
    paid = ils.pay("P0001", Tender.cash_by(desk), staff=desk)
    assert paid.posting == POSTED and e.ils.payments[paid.receipt.receipt_no] == ("P0001", 5_000)
    # our own cash new card (an adult's 110.00) would now pass the day's limit: refused
    before = untouched(e)
    e.env.writer.place_blank()
    with pytest.raises(OfflineStaffRefused) as over_day:
        e.env.services.cards.new_card(make_reader(3), Tender.cash_by(desk), staff=desk)
    assert over_day.value.message_id == "staff.offline_limit"
    assert untouched(e) == before
    # one ILS payment over the per-payment limit (20,000): refused, nothing posted
    with pytest.raises(OfflineStaffRefused) as over_one:
        ils.pay("P0002", Tender.cash_by(desk), staff=desk)
    assert over_one.value.reason == "offline_limit_exceeded"
    for lang, words in (("zh_CN", "200.00"), ("en", "200.00")):
        assert words in i18n.translate(over_one.value.message_id, lang, **over_one.value.params)
    assert untouched(e) == before and e.ils.patrons["P0002"].owed == 25_000
    # an ILS payment within the per-payment limit that would pass the day's: refused too
    e.ils.patrons["P0002"].fines = [IlsFine("F2", 10_001, "古籍 损坏赔偿")]
    before = untouched(e)
    with pytest.raises(OfflineStaffRefused) as over_day:
        ils.pay("P0002", Tender.cash_by(desk), staff=desk)
    assert over_day.value.reason == "offline_limit_exceeded" and untouched(e) == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_record_server_counts_offline_ils_cash_against_its_own_limits(
        tmp_path: Path, test_ils: TestIls, server: ServerProcess) -> None:  # noqa: F811
    """The server applies the same rule: an offline ILS cash payment is an offline staff action
    with its amount (for the day's limit and the supervisor's review); one over the server's
    per-payment limit, signed with the right key anyway, is refused there and changes nothing."""
    client = RecordServerClient(server.url, "K01", server.enroll("K01"), retries=0,
                                backoff_s=0.01)
    now = dt.datetime.now(CHINA_TZ).replace(microsecond=0)  # the server's time: sessions
    e = make_ils_env(tmp_path / "k01.sqlite3", test_ils, clock=FixedClock(now),
                     staff_authority=ServerStaffAuthority(client))
    try:
        engine = SyncEngine(e.env.store, client, clock=e.env.clock)
        staff = e.env.services.staff
        staff.login(SERVER_DESK, STAFF_PIN)  # online: the verifier
        online = staff.authority
        staff.authority = ServerStaffAuthority(
            RecordServerClient("http://127.0.0.1:9", "K01", "kt_x", retries=0, backoff_s=0.01))
        desk = staff.login(SERVER_DESK, STAFF_PIN)
        assert desk.offline
        test_ils.patrons["P0001"].fines = [IlsFine("F1", 5_000, "红楼梦 丢失赔偿")]
        test_ils.patrons["P0002"].fines = [IlsFine("F2", 6_000, "围城 丢失赔偿")]
        ils = ils_of(e)
        first = ils.pay("P0001", Tender.cash_by(desk), staff=desk)
        engine.sync_once()  # pushed: applied, and counted as an offline staff action
        db = Database(server.database_url)
        try:
            with db.read() as conn:
                acted = [tuple(r) for r in conn.execute(select(
                    st.offline_staff_actions.c.kind, st.offline_staff_actions.c.amount))]
                assert acted == [("ils.fee_paid", 5_000)]
                assert conn.execute(select(m.payments.c.amount).where(
                    m.payments.c.receipt_no == first.receipt.receipt_no)).scalar() == 5_000
            ils.pay("P0002", Tender.cash_by(desk), staff=desk)
            genuine = _push_before(client, e.env, "ils.fee_paid")
            big = _forged(genuine, client.position()["next_seq"], payload={"amount": 25_000})
            big["staff_proof"]["mac"] = _mac(desk.prover.key, big)  # right key, over the limit
            with db.read() as conn:
                before = conn.execute(select(func.count()).select_from(m.payments)).scalar()
            [res] = client.push([big])["results"]
            assert (res["status"], res["detail"]) == ("rejected", "offline_limit_exceeded")
            with db.read() as conn:
                assert conn.execute(select(func.count()).select_from(m.payments)).scalar() == before
                assert len(list(conn.execute(select(st.offline_staff_actions)))) == 1
        finally:
            db.engine.dispose()
        staff.authority = online
    finally:
        e.client.close()
        e.env.store.close()

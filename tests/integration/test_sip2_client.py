"""The SIP2 client against the test ILS (pysip2's real server) over real TCP on 127.0.0.1:
every message, UTF-8 / GB18030 / cp850, TLS, and an ILS that answers 96, drops the connection,
answers late, gets its checksum wrong, or refuses the login. Every frame the ILS received is
checked with a second, independent checksum (the ``sip2`` package's)."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import time
from collections.abc import Iterator

import pytest
from Sip2.sip2 import Sip2 as IndependentSip2

from library_core.clock import FixedClock
from server_client.sip2.client import IlsLink, Sip2Client, Sip2Login
from server_client.sip2.errors import (
    IlsInvalidValue,
    IlsLoginRefused,
    IlsProtocolError,
    IlsUnreachable,
)
from server_client.sip2.wire import Endpoint
from tests.support.test_ils import (
    HOLD_BIN,
    INSTITUTION,
    LOCATION,
    ON_HOLD,
    ON_LOAN,
    ON_SHELF,
    OTHER,
    OVERDUE,
    PASSWORD,
    UNKNOWN_ITEM,
    USER,
    TestIls,
    test_ils,  # noqa: F401  (fixture)
)
from tests.support.tls import TlsFiles, tls_files_fixture  # noqa: F401  (fixture)

CLOCK = FixedClock(dt.datetime(2026, 12, 1, 10, 30))


def client_for(ils: TestIls, *, encoding: str = "utf-8", lenient: bool = False,
               timeout_s: float = 3.0, password: str = PASSWORD, **endpoint: object) -> Sip2Client:
    return Sip2Client(Endpoint("127.0.0.1", ils.port, encoding=encoding, checksum_lenient=lenient,
                               **endpoint),  # type: ignore[arg-type]
                      Sip2Login(USER, password, LOCATION, INSTITUTION), CLOCK,
                      timeout_s=timeout_s, min_backoff_s=0.05, max_backoff_s=0.2)


@pytest.fixture
def client(test_ils: TestIls) -> Iterator[Sip2Client]:  # noqa: F811
    c = client_for(test_ils)
    yield c
    c.close()


def independent_checksum_ok(frame: bytes) -> bool:
    """The ``sip2`` package's checksum (a sum of characters: latin-1 keeps bytes as characters)
    of everything through AZ equals the frame's own."""
    body = frame.rstrip(b"\r")
    through_az = body[:-4].decode("latin-1")
    return IndependentSip2()._crc_calc(through_az).zfill(4) == body[-4:].decode("ascii")


def wait_until(check: object, limit_s: float = 60.0) -> bool:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


# ---- every message ----------------------------------------------------------------------------
def test_login_and_sc_status(client: Sip2Client, test_ils: TestIls) -> None:  # noqa: F811
    status = client.sc_status()
    assert status.online_status == "Y" and status.checkin_ok == "Y"
    assert test_ils.logins == 1
    assert [f[:2] for f in test_ils.frames] == [b"93", b"99", b"99"]
    assert client.link().up and client.link().last_error == ""


def test_patron_status_and_information(client: Sip2Client) -> None:
    st = client.patron_status("P0001", "1234")
    assert (st.personal_name, st.valid_patron, st.fee_amount) == ("张三", "Y", "3.50")
    assert st.patron_status == " " * 14
    info = client.patron_information("P0001", summary="  YY      ")
    assert info.charged_items == (ON_LOAN, ON_HOLD, OTHER)
    assert info.fine_items == ("F1 3.50 红楼梦 逾期",)
    assert info.charged_items_count == "0003" and info.fine_items_count == "0001"
    unknown = client.patron_status("P9999")
    assert unknown.valid_patron == "N"


def test_checkin_normal_hold_unknown_not_on_loan(client: Sip2Client, test_ils: TestIls) -> None:  # noqa: F811
    normal = client.checkin(ON_LOAN)
    assert (normal.ok, normal.alert, normal.title_identifier, normal.sort_bin) == (
        "1", "N", "红楼梦", "A1")
    assert normal.print_line == ("已还 Returned: 红楼梦",)
    hold = client.checkin(ON_HOLD)
    assert (hold.ok, hold.alert, hold.sort_bin, hold.patron_identifier) == ("1", "Y", HOLD_BIN,
                                                                             "P0002")
    assert hold.screen_message
    late = client.checkin(OVERDUE)
    assert late.print_line[-1] == "逾期费 Fine: 1.50"
    assert test_ils.patrons["P0002"].owed == 150
    unknown = client.checkin(UNKNOWN_ITEM)
    assert unknown.ok == "0" and unknown.screen_message[1].startswith("Unknown item")
    shelf = client.checkin(ON_SHELF)
    assert shelf.ok == "0" and shelf.title_identifier == "活着"


def test_fee_paid_with_our_transaction_id(client: Sip2Client, test_ils: TestIls) -> None:  # noqa: F811
    paid = client.fee_paid("P0001", 350, transaction_id="K01-20261201-0001", fee_id="F1")
    assert paid.payment_accepted == "Y" and paid.transaction_id == "K01-20261201-0001"
    assert test_ils.patrons["P0001"].owed == 0
    again = client.fee_paid("P0001", 350, transaction_id="K01-20261201-0001")
    assert again.payment_accepted == "Y" and test_ils.payments == {
        "K01-20261201-0001": ("P0001", 350)}  # acknowledged, not applied twice
    refused = client.fee_paid("P0001", 100, transaction_id="K01-20261201-0002")
    assert refused.payment_accepted == "N" and refused.screen_message
    frame = test_ils.frames_of("37")[0]
    assert b"BV3.50|" in frame and b"BKK01-20261201-0001|" in frame and b"CNY" in frame


def test_block_patron_renew_end_session(client: Sip2Client, test_ils: TestIls) -> None:  # noqa: F811
    renewed = client.renew("P0001", ON_LOAN)
    assert renewed.ok == "1" and renewed.title_identifier == "红楼梦"
    refused = client.renew("P0001", ON_HOLD)  # someone waits for it
    assert refused.ok == "0" and refused.screen_message
    blocked = client.block_patron("P0001", "读者证挂失 card reported lost")
    assert blocked.patron_status.startswith("YYYY")
    assert test_ils.patrons["P0001"].blocked == "读者证挂失 card reported lost"
    assert client.end_session("P0001").end_session == "Y"
    assert [f[:2] for f in test_ils.frames] == [b"93", b"99", b"29", b"29", b"01", b"35"]


# ---- encodings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_chinese_titles_per_connection_encoding(encoding: str) -> None:
    with TestIls(encoding=encoding) as ils:
        c = client_for(ils, encoding=encoding)
        try:
            answer = c.checkin(ON_HOLD)
            name = c.patron_status("P0002").personal_name
            blocked = c.block_patron("P0002", "挂失")
        finally:
            c.close()
    assert answer.title_identifier == "三体" and name == "李四"
    assert blocked.screen_message == ("挂失",)
    assert "挂失".encode(encoding) in ils.frames_of("01")[0]
    assert all(independent_checksum_ok(f) for f in ils.frames)


def test_cp850_connection_refuses_a_value_it_cannot_carry() -> None:
    with TestIls(encoding="cp850") as ils:
        c = client_for(ils, encoding="cp850")
        try:
            assert c.patron_status("P0003").personal_name == "Jürgen Müller"
            sent = len(ils.frames)
            with pytest.raises(IlsInvalidValue):
                c.block_patron("P0003", "挂失")
            assert len(ils.frames) == sent  # nothing sent
            assert c.link().up  # a value we cannot send is not the ILS's fault
        finally:
            c.close()


def test_hostile_values_refused_before_sending(client: Sip2Client, test_ils: TestIls) -> None:  # noqa: F811
    client.sc_status()
    sent = len(test_ils.frames)
    for bad in ("3100|AOEVIL", "3100\r99", "x" * 300):
        with pytest.raises(IlsInvalidValue):
            client.checkin(bad)
    assert len(test_ils.frames) == sent
    latin = Sip2Client(Endpoint("127.0.0.1", test_ils.port, encoding="latin-1"),
                       Sip2Login(USER, PASSWORD), CLOCK)
    with pytest.raises(IlsInvalidValue):  # only utf-8, gb18030 and cp850 are offered
        latin.sc_status()


def test_tls_connection(tls_files: TlsFiles) -> None:  # noqa: F811
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls_files.cert, tls_files.key)
    with TestIls(tls=ctx) as ils:
        good = client_for(ils, tls=True, ca_file=str(tls_files.ca_file))
        wrong_ca = client_for(ils, tls=True, ca_file=str(tls_files.other_ca.pem))
        try:
            assert good.checkin(ON_LOAN).title_identifier == "红楼梦"
            with pytest.raises(IlsUnreachable):
                wrong_ca.sc_status()
            assert "TLS" in wrong_ca.link().last_error_detail
        finally:
            good.close()
            wrong_ca.close()


# ---- a misbehaving ILS ---------------------------------------------------------------------------
def test_ils_answers_96_once_and_gets_the_same_frame_again(client: Sip2Client,
                                                           test_ils: TestIls) -> None:  # noqa: F811
    client.sc_status()
    test_ils.fault("09", "resend")
    answer = client.checkin(ON_LOAN)
    assert answer.ok == "1" and answer.title_identifier == "红楼梦"
    first, second = test_ils.frames_of("09")
    assert first == second  # resent unchanged (same sequence number and checksum)
    assert test_ils.checkins == [ON_LOAN]  # checked in once


def test_ils_drops_the_connection_mid_exchange(test_ils: TestIls) -> None:  # noqa: F811
    client = client_for(test_ils)
    # a back-off long enough that the next call is surely inside it on a loaded machine (the
    # client's 50 ms let a stalled test thread reach it after the back-off, and reconnect)
    client.min_backoff_s = client.max_backoff_s = 5.0
    try:
        client.sc_status()
        changes: list[IlsLink] = []
        client.subscribe(changes.append)
        test_ils.fault("09", "drop")
        with pytest.raises(IlsUnreachable):
            client.checkin(ON_LOAN)
        link = client.link()
        assert not link.up and link.last_error == "ils.unreachable"
        assert link.last_error_at == CLOCK.now()
        with pytest.raises(IlsUnreachable, match="backing off"):  # fails fast while backing off
            client.checkin(ON_LOAN)
        assert wait_until(lambda: _try(client, ON_LOAN))  # reconnects (logs in again) after it
        assert test_ils.logins == 2 and [c.up for c in changes] == [False, True]
    finally:
        client.close()


def _try(client: Sip2Client, item: str) -> bool:
    try:
        return client.checkin(item).ok == "1"
    except IlsUnreachable:
        return False


def test_ils_answers_late_past_the_timeout(test_ils: TestIls) -> None:  # noqa: F811
    c = client_for(test_ils, timeout_s=0.5)
    try:
        c.sc_status()
        test_ils.fault("09", "held")  # the ILS holds its answer until released below
        with pytest.raises(IlsUnreachable, match="in time"):
            c.checkin(ON_LOAN)  # gave up at its deadline: no answer had been sent
        test_ils.release_held()  # the late answer goes out now, to the connection given up
        assert c.link().last_error == "ils.unreachable"
        # the late answer never reaches a later question: a new connection answers it
        assert wait_until(lambda: _status_ok(c))
    finally:
        c.close()


def _status_ok(client: Sip2Client) -> bool:
    try:
        return client.patron_status("P0002").personal_name == "李四"
    except IlsUnreachable:
        return False


def test_wrong_checksum_strict_asks_again_with_97(client: Sip2Client, test_ils: TestIls) -> None:  # noqa: F811
    client.sc_status()
    test_ils.fault("09", "bad_checksum")
    answer = client.checkin(ON_LOAN)
    assert answer.title_identifier == "红楼梦"
    assert len(test_ils.frames_of("97")) == 1 and test_ils.checkins == [ON_LOAN]


def test_wrong_checksum_lenient_accepts_and_logs(test_ils: TestIls,  # noqa: F811
                                                 caplog: pytest.LogCaptureFixture) -> None:
    c = client_for(test_ils, lenient=True)
    try:
        c.sc_status()
        test_ils.fault("09", "bad_checksum")
        with caplog.at_level(logging.WARNING, logger="server_client.sip2.wire"):
            answer = c.checkin(ON_LOAN)
        assert answer.title_identifier == "红楼梦"
        assert test_ils.frames_of("97") == []
        assert "lenient" in caplog.text
    finally:
        c.close()


def test_wrong_checksum_every_time_is_a_protocol_error(client: Sip2Client,
                                                       test_ils: TestIls) -> None:  # noqa: F811
    client.sc_status()
    for _ in range(5):
        test_ils.fault("97", "bad_checksum")
    test_ils.fault("09", "bad_checksum")
    with pytest.raises(IlsProtocolError):
        client.checkin(ON_LOAN)
    assert client.link().last_error == "ils.protocol"


def test_login_refused(test_ils: TestIls) -> None:  # noqa: F811
    c = client_for(test_ils, password="wrong")
    try:
        with pytest.raises(IlsLoginRefused):
            c.sc_status()
        assert c.link() == IlsLink(up=False, last_error="ils.login_refused",
                                   last_error_detail="login of 'kiosk01' refused",
                                   last_error_at=CLOCK.now())
        assert [f[:2] for f in test_ils.frames] == [b"93"]
    finally:
        c.close()


def test_heartbeat_sends_99_on_its_interval(test_ils: TestIls) -> None:  # noqa: F811
    c = client_for(test_ils)
    c.heartbeat_s = 0.05
    try:
        c.start()
        assert wait_until(lambda: len(test_ils.frames_of("99")) >= 4)
        assert c.link().up
    finally:
        c.close()


def test_every_frame_passes_an_independent_checksum(client: Sip2Client,
                                                    test_ils: TestIls) -> None:  # noqa: F811
    client.checkin(ON_HOLD)
    client.patron_information("P0001")
    client.fee_paid("P0001", 100, transaction_id="K01-X")
    client.block_patron("P0001", "挂失")
    client.renew("P0001", OTHER)
    client.end_session("P0001")
    assert len(test_ils.frames) == 8
    assert all(independent_checksum_ok(f) for f in test_ils.frames)
    broken = test_ils.frames[0][:-2] + b"0\r"
    assert not independent_checksum_ok(broken)  # the check can fail

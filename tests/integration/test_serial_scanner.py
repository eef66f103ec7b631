"""SerialScanner against a real pseudo-terminal read by real pyserial."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Literal

import pytest

from config.settings import ScannerSection
from devices.factory import build_scanner
from devices.scanner import (
    Scanned,
    ScannerError,
    ScannerState,
    ScannerStatus,
)
from devices.serial_scanner import SerialScanner
from library_core.clock import CHINA_TZ, FixedClock
from library_core.scan import Scan, ScanKind, ScanParser, ScanRefused
from tests.support.serial_pty import EventLog, PtyPort, pty_port  # noqa: F401

Terminator = Literal["CR", "LF", "CRLF", "ANY"]
ENDINGS: dict[str, bytes] = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n"}
CARD = "20000000012340"
ITEM = "30000000987655"


def _status(state: ScannerState) -> object:
    return lambda e: isinstance(e, ScannerStatus) and e.state is state


def _scanned(e: object) -> bool:
    return isinstance(e, Scanned)


@pytest.fixture
def make_scanner(pty_port: PtyPort) -> Iterator[object]:  # noqa: F811
    started: list[SerialScanner] = []

    def make(terminator: Terminator = "ANY") -> tuple[SerialScanner, EventLog]:
        settings = ScannerSection(type="serial", port=pty_port.path, terminator=terminator)
        scanner = SerialScanner(settings, reconnect_interval_s=0.05)
        log = EventLog()
        scanner.subscribe(log)
        scanner.start()
        started.append(scanner)
        log.wait_for(_status(ScannerState.ONLINE))  # raw mode is set: safe to write now
        return scanner, log

    yield make
    for scanner in started:
        scanner.stop()


@pytest.mark.parametrize("terminator", ["CR", "LF", "CRLF"])
def test_scans_split_at_the_configured_terminator(
    make_scanner, pty_port: PtyPort, terminator: str  # noqa: F811
) -> None:
    scanner, log = make_scanner(terminator)
    end = ENDINGS[terminator]
    pty_port.write(CARD.encode() + end + ITEM.encode() + end)  # two scans in one write
    pty_port.write(b"S10")  # one scan in two writes
    pty_port.write(b"234" + end)
    texts = [log.wait_for(_scanned).text for _ in range(3)]
    assert texts == [CARD, ITEM, "S10234"]
    assert all(e.source == f"serial:{pty_port.path}" for e in log.of_type(Scanned))


def test_any_terminator_takes_cr_lf_and_crlf(make_scanner, pty_port: PtyPort) -> None:  # noqa: F811
    scanner, log = make_scanner("ANY")
    pty_port.write(b"S1001\rS1002\nS1003\r\nS1004\r")
    texts = [log.wait_for(_scanned).text for _ in range(4)]
    assert texts == ["S1001", "S1002", "S1003", "S1004"]


def test_crlf_scanner_on_a_cr_setting_gives_clean_scans(
    make_scanner, pty_port: PtyPort  # noqa: F811
) -> None:
    scanner, log = make_scanner("CR")
    pty_port.write(b"S2001\r\nS2002\r\n")
    assert [log.wait_for(_scanned).text for _ in range(2)] == ["S2001", "S2002"]


def test_lf_setting_does_not_split_at_cr(make_scanner, pty_port: PtyPort) -> None:  # noqa: F811
    scanner, log = make_scanner("LF")
    pty_port.write(b"S3001\rS3002\n")
    assert log.wait_for(_scanned).text == "S3001\rS3002"  # the parser refuses it as garbled


def test_undecodable_bytes_reach_the_parser_and_are_refused(
    make_scanner, pty_port: PtyPort  # noqa: F811
) -> None:
    scanner, log = make_scanner("CR")
    pty_port.write(b"\xff\xfe\x80\r" + "读者".encode("gb18030") + b"\r" + CARD.encode() + b"\r")
    parser = ScanParser(b"k" * 32, FixedClock(dt.datetime(2026, 1, 5, tzinfo=CHINA_TZ)))
    results = [parser.parse(log.wait_for(_scanned).text) for _ in range(3)]
    assert [type(r) for r in results] == [ScanRefused, ScanRefused, Scan]
    assert isinstance(results[2], Scan) and results[2].kind is ScanKind.READER_CARD


def test_port_closed_under_it_goes_offline_and_comes_back(
    make_scanner, pty_port: PtyPort  # noqa: F811
) -> None:
    scanner, log = make_scanner("CR")
    pty_port.write(b"S4001\r")
    assert log.wait_for(_scanned).text == "S4001"

    pty_port.unplug()
    offline = log.wait_for(_status(ScannerState.OFFLINE))
    assert offline.message_id == "device.scanner.disconnected"
    assert not scanner.status.online

    pty_port.replug()
    log.wait_for(_status(ScannerState.ONLINE))
    pty_port.write(b"S4002\r")
    assert log.wait_for(_scanned).text == "S4002"
    assert [e.text for e in log.of_type(Scanned)] == ["S4001", "S4002"]


def test_port_missing_at_start_is_offline_until_it_appears(pty_port: PtyPort) -> None:  # noqa: F811
    pty_port.unplug()
    scanner = SerialScanner(
        ScannerSection(type="serial", port=pty_port.path, terminator="CR"),
        reconnect_interval_s=0.05,
    )
    log = EventLog()
    scanner.subscribe(log)
    scanner.start()
    try:
        offline = log.wait_for(_status(ScannerState.OFFLINE))
        assert offline.message_id == "device.scanner.disconnected"
        assert pty_port.path in offline.detail
        pty_port.replug()
        log.wait_for(_status(ScannerState.ONLINE))
        pty_port.write(b"S5001\r")
        assert log.wait_for(_scanned).text == "S5001"
    finally:
        scanner.stop()
    assert scanner.status.state is ScannerState.STOPPED


def test_stop_ends_the_reader_thread_and_start_again_works(
    make_scanner, pty_port: PtyPort  # noqa: F811
) -> None:
    scanner, log = make_scanner("CR")
    thread = scanner._thread
    assert thread is not None and thread.is_alive()
    scanner.stop()
    assert not thread.is_alive()
    log.wait_for(_status(ScannerState.STOPPED))
    scanner.start()
    log.wait_for(_status(ScannerState.ONLINE))
    pty_port.write(b"S6001\r")
    assert log.wait_for(_scanned).text == "S6001"


def test_a_failing_subscriber_does_not_stop_the_scanner(
    make_scanner, pty_port: PtyPort  # noqa: F811
) -> None:
    scanner, log = make_scanner("CR")

    def broken(event: object) -> None:
        raise RuntimeError("subscriber bug")

    scanner.subscribe(broken)
    pty_port.write(b"S7001\rS7002\r")
    assert [log.wait_for(_scanned).text for _ in range(2)] == ["S7001", "S7002"]


def test_no_port_configured_is_a_scanner_error() -> None:
    with pytest.raises(ScannerError) as info:
        SerialScanner(ScannerSection(type="serial", port="")).start()
    assert info.value.message_id == "device.scanner.no_port"


def test_built_from_config(pty_port: PtyPort) -> None:  # noqa: F811
    scanner = build_scanner(ScannerSection(type="serial", port=pty_port.path, terminator="LF"))
    assert isinstance(scanner, SerialScanner)
    log = EventLog()
    scanner.subscribe(log)
    scanner.start()
    try:
        log.wait_for(_status(ScannerState.ONLINE))
        pty_port.write(ITEM.encode() + b"\n")
        assert log.wait_for(_scanned).text == ITEM
    finally:
        scanner.stop()

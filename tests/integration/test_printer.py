"""The ESC/POS driver against a real TCP printer socket on loopback, and the simulator.

Every wait is bounded and each test has a pytest timeout. The driver waits ``TIMEOUT_S`` for a
printer that answers (generous: the socket's thread answers late on a loaded machine) and
``SILENT_TIMEOUT_S`` where the test is that nothing answers.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from config.settings import PrinterSection
from devices.factory import build_printer
from devices.printer import (
    CoverOpen,
    EscposReceiptPrinter,
    PaperOut,
    PrinterConnectionLost,
    PrinterError,
    PrinterOffline,
    PrinterTimeout,
    print_and_report,
)
from devices.receipt_layout import render_receipt
from devices.simulated_printer import SimulatedReceiptPrinter
from library_core.errors import ConfigError, DeviceError
from library_core.i18n import has_message
from library_core.receipts import ReceiptKind
from tests.support.printer_socket import (  # noqa: F401
    PrinterState,
    SocketPrinter,
    printer_socket,
)
from tests.support.receipts import real_receipt

pytestmark = pytest.mark.timeout(30)

TIMEOUT_S = 10.0
SILENT_TIMEOUT_S = 0.5


@pytest.fixture
def sp(printer_socket: SocketPrinter) -> SocketPrinter:  # noqa: F811
    """The shared loopback printer socket (started and stopped by ``printer_socket``)."""
    return printer_socket


def network_printer(sp: SocketPrinter, **overrides: object) -> EscposReceiptPrinter:
    settings = PrinterSection(
        type="network",
        host=sp.host,
        port=sp.port,
        timeout_s=TIMEOUT_S,
        paper_width_mm=80,
        chinese_mode="fs",
    )
    for key, value in overrides.items():
        settings = PrinterSection(**{**settings.__dict__, key: value})
    return EscposReceiptPrinter(settings)


def expected_job(kind: ReceiptKind = ReceiptKind.NEW_CARD, width: int = 80) -> bytes:
    return render_receipt(real_receipt(kind), paper_width_mm=width, chinese_mode="fs")


def test_ok_prints_the_laid_out_bytes_and_checks_status_before_and_after(
    sp: SocketPrinter,
) -> None:
    printer = network_printer(sp)
    result = printer.print_receipt(real_receipt(ReceiptKind.NEW_CARD))

    assert result.ok and result.message_id == "printer.ok"
    assert result.status.online and result.status.paper == "ok" and not result.status.cover_open
    assert sp.wait_for_connections(1)
    assert sp.jobs == [expected_job()]
    assert sp.connections[0].queries == [1, 2, 4, 1, 2, 4]


@pytest.mark.parametrize(
    ("state", "error", "message_id"),
    [
        (PrinterState.PAPER_OUT, PaperOut, "printer.paper_out"),
        (PrinterState.COVER_OPEN, CoverOpen, "printer.cover_open"),
        (PrinterState.SILENT, PrinterTimeout, "printer.timeout"),
        (PrinterState.DROP, PrinterConnectionLost, "printer.connection_lost"),
    ],
)
def test_each_fault_gives_its_own_typed_error_and_result(
    sp: SocketPrinter, state: PrinterState, error: type[PrinterError], message_id: str
) -> None:
    sp.set_state(state)
    printer = network_printer(sp, **(
        {"timeout_s": SILENT_TIMEOUT_S} if state is PrinterState.SILENT else {}))
    receipt = real_receipt(ReceiptKind.PAYMENT)

    with pytest.raises(error) as info:
        printer.print_receipt(receipt)
    assert isinstance(info.value, DeviceError)
    assert info.value.message_id == message_id
    assert info.value.status.message_id == message_id

    result = print_and_report(printer, receipt)  # never raises for a device fault
    assert not result.ok and result.message_id == message_id
    assert result.receipt_no == receipt.receipt_no
    assert has_message(message_id, "zh_CN") and has_message(message_id, "en")
    if state in (PrinterState.PAPER_OUT, PrinterState.COVER_OPEN, PrinterState.SILENT):
        assert sp.wait_for_connections(2)
        assert sp.jobs == [], "a job was sent to a printer that could not print"


def test_paper_near_end_prints_and_warns(sp: SocketPrinter) -> None:
    sp.set_state(PrinterState.NEAR_END)
    result = network_printer(sp).print_receipt(real_receipt(ReceiptKind.RENEWAL))
    assert result.ok
    assert result.status.paper == "near_end"
    assert result.message_id == "printer.paper_near_end"


def test_status_reports_each_state(sp: SocketPrinter) -> None:
    printer = network_printer(sp)
    seen = {}
    for state in (
        PrinterState.OK,
        PrinterState.NEAR_END,
        PrinterState.PAPER_OUT,
        PrinterState.COVER_OPEN,
    ):
        sp.set_state(state)
        status = printer.status()
        seen[state] = (status.online, status.paper, status.cover_open, status.message_id)
    assert seen == {
        PrinterState.OK: (True, "ok", False, ""),
        PrinterState.NEAR_END: (True, "near_end", False, "printer.paper_near_end"),
        PrinterState.PAPER_OUT: (False, "out", False, "printer.paper_out"),
        PrinterState.COVER_OPEN: (False, "ok", True, "printer.cover_open"),
    }
    sp.set_state(PrinterState.SILENT)
    with pytest.raises(PrinterTimeout):
        network_printer(sp, timeout_s=SILENT_TIMEOUT_S).status()


def test_paper_running_out_during_the_job_is_reported() -> None:
    with SocketPrinter(after_job=PrinterState.PAPER_OUT) as sp:
        printer = network_printer(sp)
        result = print_and_report(printer, real_receipt(ReceiptKind.RETURNS))
        assert not result.ok and result.message_id == "printer.paper_out"
        assert result.status.paper == "out"


def test_nothing_listening_is_offline() -> None:
    # a port held bound but never listening refuses every connection; a port freed again
    # could meanwhile be taken by another process on the machine
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        printer = EscposReceiptPrinter(
            PrinterSection(type="network", host="127.0.0.1", port=port, timeout_s=TIMEOUT_S)
        )
        with pytest.raises(PrinterOffline) as info:
            printer.print_receipt(real_receipt(ReceiptKind.NEW_CARD))
        assert info.value.message_id == "printer.offline"
        result = print_and_report(printer, real_receipt(ReceiptKind.NEW_CARD))
        assert not result.ok and not result.status.online


def test_reprint_after_recovery_prints_the_same_bytes(sp: SocketPrinter) -> None:
    printer = network_printer(sp)
    receipt = real_receipt(ReceiptKind.NEW_CARD, "zh_CN")

    first = print_and_report(printer, receipt)
    sp.set_state(PrinterState.PAPER_OUT)
    out = print_and_report(printer, receipt)
    sp.set_state(PrinterState.DROP)
    dropped = print_and_report(printer, receipt)
    sp.set_state(PrinterState.OK)  # paper loaded, cable back
    reprint = print_and_report(printer, receipt)

    assert [first.ok, out.ok, dropped.ok, reprint.ok] == [True, False, False, True]
    assert sp.wait_for_connections(4)
    jobs = [bytes(c.job) for c in sp.connections]
    assert jobs[0] == jobs[3] == expected_job()
    assert jobs[1] == b""
    assert 0 < len(jobs[2]) < len(jobs[0]) and jobs[0].startswith(jobs[2])  # cut off mid-job


def test_raw_mode_and_58mm_go_through_the_socket(sp: SocketPrinter) -> None:
    printer = network_printer(sp, chinese_mode="raw", paper_width_mm=58)
    printer.print_receipt(real_receipt(ReceiptKind.RETURNS))
    assert sp.wait_for_connections(1)
    job = sp.jobs[0]
    assert job == render_receipt(
        real_receipt(ReceiptKind.RETURNS), paper_width_mm=58, chinese_mode="raw"
    )
    assert b"\x1c&" not in job
    assert "红楼梦（上）：脂评汇校本".encode("gb18030") in job


def test_file_and_dummy_transports(tmp_path: Path) -> None:
    out = tmp_path / "lp0"
    receipt = real_receipt(ReceiptKind.REFUND)
    file_printer = build_printer(
        PrinterSection(type="file", file_path=str(out), timeout_s=TIMEOUT_S)
    )
    assert isinstance(file_printer, EscposReceiptPrinter)
    assert file_printer.print_receipt(receipt).ok
    assert out.read_bytes() == render_receipt(receipt)

    dummy = build_printer(PrinterSection(type="dummy", paper_width_mm=58))
    assert isinstance(dummy, EscposReceiptPrinter)
    dummy.print_receipt(receipt)
    assert dummy.dummy_output == [render_receipt(receipt, paper_width_mm=58)]

    missing = build_printer(
        PrinterSection(type="file", file_path=str(tmp_path / "no" / "such" / "dir"))
    )
    result = print_and_report(missing, receipt)
    assert not result.ok and result.message_id == "printer.offline"


def test_unknown_printer_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        build_printer(PrinterSection(type="bogus"))  # type: ignore[arg-type]
    assert info.value.key == "printer.type"


def test_simulated_printer_faults_and_previews(tmp_path: Path) -> None:
    printer = build_printer(
        PrinterSection(type="simulated", paper_width_mm=58), preview_dir=tmp_path
    )
    assert isinstance(printer, SimulatedReceiptPrinter)
    receipt = real_receipt(ReceiptKind.VISITOR_PASS, "en")

    printer.set_state(paper="out")
    assert print_and_report(printer, receipt).message_id == "printer.paper_out"
    printer.set_state(cover_open=True)
    assert print_and_report(printer, receipt).message_id == "printer.cover_open"
    printer.set_state(online=False)
    assert print_and_report(printer, receipt).message_id == "printer.offline"
    assert printer.jobs == []

    printer.set_state(paper="near_end")
    result = print_and_report(printer, receipt)
    assert result.ok and result.message_id == "printer.paper_near_end"
    assert printer.last_job == render_receipt(receipt, paper_width_mm=58)
    png = tmp_path / f"{receipt.receipt_no}.png"
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == [receipt.qr]


class _Journal:
    def __init__(self) -> None:
        self.entries: list[tuple[str, bool, str]] = []

    def record_print(self, receipt, result) -> None:  # type: ignore[no-untyped-def]
        self.entries.append((receipt.receipt_no, result.ok, result.message_id))


def test_print_and_report_hands_every_result_to_the_journal(sp: SocketPrinter) -> None:
    journal = _Journal()
    printer = network_printer(sp)
    receipt = real_receipt(ReceiptKind.PAYMENT)
    print_and_report(printer, receipt, journal=journal)
    sp.set_state(PrinterState.COVER_OPEN)
    print_and_report(printer, receipt, journal=journal)
    assert journal.entries == [
        (receipt.receipt_no, True, "printer.ok"),
        (receipt.receipt_no, False, "printer.cover_open"),
    ]


def test_a_journal_reprint_reaches_the_printer_marked_as_a_reprint(sp: SocketPrinter) -> None:
    original = real_receipt(ReceiptKind.NEW_CARD, "zh_CN")
    reprint = real_receipt("reprint", "zh_CN")
    assert reprint.reprint and reprint.receipt_no == original.receipt_no

    printer = network_printer(sp)
    assert printer.print_receipt(original).ok and printer.print_receipt(reprint).ok
    assert sp.wait_for_connections(2)
    first, second = sp.jobs
    mark = "重印".encode("gb18030")
    assert mark not in first and mark in second
    assert second == render_receipt(reprint, paper_width_mm=80, chinese_mode="fs")

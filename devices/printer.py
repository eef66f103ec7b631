"""Receipt printers: the port, its status and errors, and the ESC/POS driver (python-escpos).

The simulator is ``devices.simulated_printer.SimulatedReceiptPrinter``;
``devices.factory.build_printer`` picks one by ``settings.type``.

``EscposReceiptPrinter`` opens its transport for each job, asks the printer for its status with
``DLE EOT 1/2/4`` before and after the job (reading the replies itself with the configured short
timeout: python-escpos counts an empty reply as "paper OK"), sends the bytes laid out by
:mod:`devices.receipt_layout`, and closes. Library and socket errors are turned into the typed
errors below at that one boundary. ``print_and_report`` never raises for a device fault: a
failed print is reported in a ``PrintResult`` so the transaction completes and staff can reprint.

The receipt journal (every receipt stored, its print result, reprint from it) belongs to the
local store; :class:`ReceiptJournal` only names what ``print_and_report`` hands it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from config.settings import PrinterSection
from devices.receipt_layout import render_receipt
from devices.receipt_text import paper_spec
from library_core.errors import ConfigError, DeviceError
from library_core.receipts import Receipt

if TYPE_CHECKING:
    from escpos.escpos import Escpos

log = logging.getLogger(__name__)

PaperState = Literal["ok", "near_end", "out"]

DLE_EOT = b"\x10\x04"
STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER = 1, 2, 4


# -- results and errors ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What the printer said about itself. ``message_id`` is empty when all is well."""

    online: bool
    paper: PaperState = "ok"
    cover_open: bool = False
    message_id: str = ""

    @property
    def ready(self) -> bool:
        return self.online and self.paper != "out" and not self.cover_open


STATUS_OK = PrinterStatus(True)
STATUS_UNKNOWN = PrinterStatus(True, message_id="printer.status.unknown")
STATUS_UNREACHABLE = PrinterStatus(False, message_id="printer.offline")


@dataclass(frozen=True, slots=True)
class PrintResult:
    ok: bool
    status: PrinterStatus
    message_id: str
    receipt_no: str = ""


class PrinterError(DeviceError):
    """The receipt printer failed; ``status`` is its last known status."""

    message_id = "printer.error"

    def __init__(self, detail: str = "", status: PrinterStatus | None = None) -> None:
        self.status = status or replace(STATUS_UNREACHABLE, message_id=self.message_id)
        super().__init__(None, detail)


class PrinterOffline(PrinterError):
    message_id = "printer.offline"


class PrinterConnectionLost(PrinterOffline):
    message_id = "printer.connection_lost"


class PaperOut(PrinterError):
    message_id = "printer.paper_out"


class CoverOpen(PrinterError):
    message_id = "printer.cover_open"


class PrinterTimeout(PrinterError):
    message_id = "printer.timeout"


# -- protocols ------------------------------------------------------------------------------


class ReceiptPrinter(Protocol):
    def status(self) -> PrinterStatus:
        """Ask the printer now. Raises PrinterError when it cannot be asked."""
        ...

    def print_receipt(self, receipt: Receipt) -> PrintResult:
        """Print one receipt. Raises PrinterOffline, PaperOut, CoverOpen, PrinterTimeout."""
        ...


class ReceiptJournal(Protocol):
    """Where receipts and their print results are kept for reprinting (the local store)."""

    def record_print(self, receipt: Receipt, result: PrintResult) -> None: ...


def print_and_report(
    printer: ReceiptPrinter, receipt: Receipt, *, journal: ReceiptJournal | None = None
) -> PrintResult:
    """Print and return the result; a device fault becomes ``ok=False``, never an exception."""
    try:
        result = printer.print_receipt(receipt)
    except PrinterError as err:
        log.warning("receipt %s not printed: %s", receipt.receipt_no, err)
        result = PrintResult(False, err.status, err.message_id, receipt.receipt_no)
    except DeviceError as err:
        log.warning("receipt %s not printed: %s", receipt.receipt_no, err)
        result = PrintResult(False, STATUS_UNREACHABLE, "printer.error", receipt.receipt_no)
    except Exception:  # a receipt is never lost to a printer bug: report, keep the journal
        log.exception("receipt %s: printer failed unexpectedly", receipt.receipt_no)
        result = PrintResult(False, STATUS_UNREACHABLE, "printer.error", receipt.receipt_no)
    if journal is not None:
        journal.record_print(receipt, result)
    return result


# -- status bytes ---------------------------------------------------------------------------


def decode_status(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """Epson ``DLE EOT 1``, ``2`` and ``4`` reply bytes as a PrinterStatus."""
    offline = bool(printer & 0x08)
    cover_open = bool(offline_cause & 0x04)
    fault = bool(offline_cause & 0x40)
    out = bool(paper & 0x60) or bool(offline_cause & 0x20)
    near_end = bool(paper & 0x0C)
    paper_state: PaperState = "out" if out else "near_end" if near_end else "ok"
    if out:
        message = "printer.paper_out"
    elif cover_open:
        message = "printer.cover_open"
    elif fault:
        message = "printer.error"
    elif offline:
        message = "printer.offline"
    elif near_end:
        message = "printer.paper_near_end"
    else:
        message = ""
    online = not offline and not fault
    return PrinterStatus(online, paper_state, cover_open, message)


def raise_for_status(status: PrinterStatus, detail: str) -> None:
    """Raise the typed error for a status that cannot print."""
    if status.paper == "out":
        raise PaperOut(detail, status)
    if status.cover_open:
        raise CoverOpen(detail, status)
    if status.message_id == "printer.error":
        raise PrinterError(detail, status)
    if not status.online:
        raise PrinterOffline(detail, status)


def _is_timeout(err: BaseException) -> bool:
    return isinstance(err, TimeoutError) or "timeout" in type(err).__name__.lower()


# -- the ESC/POS driver ---------------------------------------------------------------------


@dataclass
class _Transport:
    printer: Escpos
    can_read: bool
    empty_read_means_closed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class EscposReceiptPrinter:
    """A real ESC/POS printer over network, USB, serial, file or a Dummy (bytes kept)."""

    def __init__(self, settings: PrinterSection) -> None:
        if settings.type == "simulated":
            raise ConfigError("printer.type", "use SimulatedReceiptPrinter for 'simulated'")
        paper_spec(settings.paper_width_mm)
        self.settings = settings
        self._lock = threading.Lock()
        self.last_job: bytes = b""
        self.dummy_output: list[bytes] = []  # jobs sent to the "dummy" transport

    # transport --------------------------------------------------------------------------

    def _transport(self) -> _Transport:
        s = self.settings
        profile = None if s.profile in ("", "default") else s.profile
        try:
            if s.type == "network":
                from escpos.printer import Network

                return _Transport(
                    Network(s.host, s.port, timeout=s.timeout_s, profile=profile),
                    can_read=True,
                    empty_read_means_closed=True,
                )
            if s.type == "usb":
                from escpos.printer import Usb

                if not Usb.is_usable():
                    raise ConfigError("printer.type", "usb needs pyusb (python-escpos[usb])")
                return _Transport(
                    Usb(
                        s.usb_vendor_id,
                        s.usb_product_id,
                        timeout=int(s.timeout_s * 1000),
                        profile=profile,
                    ),
                    can_read=True,
                )
            if s.type == "serial":
                from escpos.printer import Serial

                if not Serial.is_usable():
                    raise ConfigError("printer.type", "serial needs pyserial")
                return _Transport(
                    Serial(
                        s.serial_device,
                        baudrate=s.serial_baudrate,
                        timeout=s.timeout_s,
                        profile=profile,
                    ),
                    can_read=True,
                )
            if s.type == "file":
                from escpos.printer import File

                return _Transport(File(s.file_path, profile=profile), can_read=False)
            if s.type == "dummy":
                from escpos.printer import Dummy

                return _Transport(Dummy(profile=profile), can_read=False)
        except ImportError as err:
            raise ConfigError("printer.type", f"{s.type}: {err}") from err
        raise ConfigError("printer.type", f"unknown printer type {s.type!r}")

    def _ask(self, t: _Transport, n: int) -> int:
        """Send ``DLE EOT n`` and return the reply byte. Raises PrinterTimeout / PrinterOffline."""
        t.printer._raw(DLE_EOT + bytes([n]))
        reply = t.printer._read()
        if not reply:
            if t.empty_read_means_closed:
                raise PrinterConnectionLost(f"connection closed on DLE EOT {n}")
            raise PrinterTimeout(
                f"no answer to DLE EOT {n}",
                replace(STATUS_UNREACHABLE, message_id="printer.timeout"),
            )
        return int(reply[-1])

    def _query(self, t: _Transport) -> PrinterStatus:
        if not t.can_read or not self.settings.check_status:
            return STATUS_UNKNOWN
        return decode_status(
            self._ask(t, STATUS_PRINTER),
            self._ask(t, STATUS_OFFLINE_CAUSE),
            self._ask(t, STATUS_PAPER),
        )

    def _run(self, job: bytes | None) -> PrinterStatus:
        """Open, check, send ``job`` (if any), check again, close. Wraps library errors."""
        from escpos.exceptions import DeviceNotFoundError
        from escpos.exceptions import Error as EscposError

        t = self._transport()
        started = False
        try:
            before = self._query(t)
            if job is None:
                return before
            raise_for_status(before, "before the job")
            started = True
            t.printer._raw(job)
            after = self._query(t)
            raise_for_status(after, "after the job")
            if t.printer.__class__.__name__ == "Dummy":
                self.dummy_output.append(t.printer.output)
            return after
        except PrinterError:
            raise
        except DeviceNotFoundError as err:
            raise PrinterOffline(str(err).strip()) from err
        except OSError as err:
            if _is_timeout(err):
                raise PrinterTimeout(
                    str(err), replace(STATUS_UNREACHABLE, message_id="printer.timeout")
                ) from err
            if started:
                raise PrinterConnectionLost(str(err)) from err
            raise PrinterOffline(str(err)) from err
        except EscposError as err:
            raise PrinterError(str(err)) from err
        except Exception as err:  # pyusb / pyserial errors: not importable up front
            if _is_timeout(err):
                raise PrinterTimeout(
                    str(err), replace(STATUS_UNREACHABLE, message_id="printer.timeout")
                ) from err
            if type(err).__module__.split(".")[0] in ("usb", "serial"):
                raise PrinterOffline(str(err)) from err
            raise
        finally:
            try:
                t.printer.close()
            except Exception as err:  # closing a broken connection may fail again
                log.debug("printer close failed: %s", err)

    # protocol ---------------------------------------------------------------------------

    def status(self) -> PrinterStatus:
        with self._lock:
            return self._run(None)

    def print_receipt(self, receipt: Receipt) -> PrintResult:
        job = render_receipt(
            receipt,
            paper_width_mm=self.settings.paper_width_mm,
            chinese_mode=self.settings.chinese_mode,
            profile=self.settings.profile,
        )
        with self._lock:
            self.last_job = job
            status = self._run(job)
        log.info("receipt %s printed (%d bytes)", receipt.receipt_no, len(job))
        return PrintResult(True, status, status.message_id or "printer.ok", receipt.receipt_no)

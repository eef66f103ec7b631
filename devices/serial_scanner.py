"""A scanner on a serial port (RS-232 or USB CDC), read with pyserial in a reader thread."""

from __future__ import annotations

import logging
import re
from typing import Any

from config.settings import ScannerSection
from devices.scanner import Scanned, ScannerError, ScannerState, ThreadedScanner
from library_core.errors import ConfigError

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 4096
"""A serial scan longer than this without a terminator is noise (wrong terminator setting?)."""

_TERMINATOR_RE = {
    "CR": re.compile(rb"\r"),
    "LF": re.compile(rb"\n"),
    "CRLF": re.compile(rb"\r\n"),
    "ANY": re.compile(rb"\r\n|\r|\n"),
}


class LineSplitter:
    """Cuts a byte stream into scans at the configured terminator; bounded buffer."""

    def __init__(self, terminator: str, max_bytes: int = MAX_LINE_BYTES) -> None:
        if terminator not in _TERMINATOR_RE:
            raise ConfigError("scanner.terminator", f"must be CR, LF, CRLF or ANY, got {terminator!r}")
        self._re = _TERMINATOR_RE[terminator]
        self._max = max_bytes
        self._buffer = b""

    def reset(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        parts = self._re.split(self._buffer + data)
        self._buffer = parts.pop()
        if len(self._buffer) > self._max:
            log.warning("dropping %d bytes with no terminator (check scanner.terminator)",
                        len(self._buffer))
            self._buffer = b""
        # A CRLF scanner on a CR or LF setting leaves the other half on the line: drop it.
        lines = (p.strip(b"\r\n") for p in parts)
        return [line for line in lines if line]


class SerialScanner(ThreadedScanner):
    """A scanner on a serial port (RS-232 or USB CDC) read with pyserial in a reader thread.

    Lines end in CR, LF or CRLF per ``settings.terminator`` (``ANY`` takes each). If the port
    fails or vanishes the status goes offline and the thread reopens it until ``stop()``.
    """

    def __init__(
        self,
        settings: ScannerSection,
        *,
        reconnect_interval_s: float = 0.5,
        read_timeout_s: float = 0.1,
        encoding: str = "utf-8",
    ) -> None:
        super().__init__(f"serial:{settings.port}", thread_name=f"scanner-{settings.port}")
        self._settings = settings
        self._splitter = LineSplitter(settings.terminator)
        self._reconnect_s = reconnect_interval_s
        self._read_timeout_s = read_timeout_s
        self._encoding = encoding

    def _check_can_start(self) -> None:
        """Raises ScannerError if no port is set or pyserial is missing."""
        if not self._settings.port:
            raise ScannerError("device.scanner.no_port", "scanner.port is empty")
        try:
            import serial  # noqa: F401
        except ImportError as err:
            raise ScannerError("device.scanner.unavailable", "pyserial is not installed") from err

    def _open(self) -> Any:
        """Open the port. Raises ScannerError wrapping pyserial's error."""
        import serial

        try:
            return serial.Serial(
                self._settings.port, self._settings.baudrate, timeout=self._read_timeout_s
            )
        except (serial.SerialException, OSError, ValueError) as err:
            raise ScannerError(
                "device.scanner.disconnected", f"cannot open {self._settings.port}: {err}"
            ) from err

    def _read(self, port: Any) -> bytes:
        """Read what has arrived (waits up to the read timeout). Raises ScannerError."""
        import serial

        try:
            data: bytes = port.read(max(1, port.in_waiting))
        except (serial.SerialException, OSError, TypeError) as err:
            # TypeError: pyserial's read on a port closed by another thread
            raise ScannerError(
                "device.scanner.disconnected", f"{self._settings.port}: {err}"
            ) from err
        return data

    def _run(self) -> None:
        while not self._stop_event.is_set():
            try:
                port = self._open()
            except ScannerError as err:
                self._set_status(ScannerState.OFFLINE, err.message_id, err.detail)
                self._stop_event.wait(self._reconnect_s)
                continue
            self._splitter.reset()
            self._set_status(ScannerState.ONLINE, "device.scanner.online")
            try:
                while not self._stop_event.is_set():
                    for line in self._splitter.feed(self._read(port)):
                        text = line.decode(self._encoding, errors="replace")
                        log.debug("scan from %s: %r", self.source, text)
                        self._emit(Scanned(text, self.source))
            except ScannerError as err:
                log.warning("serial scanner lost: %s", err.detail)
                self._set_status(ScannerState.OFFLINE, err.message_id, err.detail)
            finally:
                try:
                    port.close()
                except Exception:  # closing a vanished port may fail any way; it is gone either way
                    log.debug("closing %s failed", self._settings.port, exc_info=True)
            self._stop_event.wait(self._reconnect_s)

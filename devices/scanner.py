"""QR / barcode scanners: the port, its events and errors, and the base every driver shares.

Every scanner sends two kinds of frozen events to its subscribers: ``Scanned`` (the raw text of
one scan; ``library_core.scan.ScanParser`` decides what it is, not the scanner) and
``ScannerStatus`` (online, offline with a message id, stopped). Delivery is
``library_core.observable``'s: in order, never concurrently for one subscriber, the current
status to a new subscriber at once, an unsubscribe handle. Serial and camera scanners call
subscribers from their own reader thread: the UI moves events onto the Kivy thread itself
(``kiosk.ui.bridge``). The keyboard-wedge scanner is fed by the UI thread and calls back on it.

The drivers: ``serial_scanner.SerialScanner``, ``wedge_scanner.KeyboardWedgeScanner``,
``camera_scanner.CameraScanner``, ``simulated_scanner.SimulatedScanner``;
``devices.factory.build_scanner`` picks one by ``settings.type``. Library errors (pyserial,
OpenCV) are wrapped at each driver's boundary into ``ScannerError``.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from library_core.errors import DeviceError
from library_core.observable import EventSource

log = logging.getLogger(__name__)


class ScannerError(DeviceError):
    """A scanner could not be opened or read; wraps the library's error."""

    message_id = "device.scanner"


class ScannerState(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Scanned:
    """One scan as the device delivered it, terminator removed; ``source`` names the device."""

    text: str
    source: str


@dataclass(frozen=True, slots=True)
class ScannerStatus:
    state: ScannerState
    source: str
    message_id: str = ""
    detail: str = ""

    @property
    def online(self) -> bool:
        return self.state is ScannerState.ONLINE


ScannerEvent = Scanned | ScannerStatus
ScannerCallback = Callable[[ScannerEvent], None]


class Scanner(Protocol):
    """A source of scans. ``subscribe`` returns a function that unsubscribes."""

    @property
    def status(self) -> ScannerStatus: ...

    def subscribe(self, callback: ScannerCallback) -> Callable[[], None]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ScannerBase(EventSource[ScannerEvent]):
    """Status and ordered delivery shared by every scanner; knows nothing of what a scan means."""

    def __init__(self, source: str) -> None:
        super().__init__(name=f"scanner {source}")
        self.source = source
        self._status = ScannerStatus(ScannerState.STOPPED, source, "device.scanner.stopped")

    @property
    def status(self) -> ScannerStatus:
        return self._status

    def current_events(self) -> Sequence[ScannerEvent]:
        return (self._status,)

    def _emit(self, event: ScannerEvent) -> None:
        self.publish(event)

    def _set_status(self, state: ScannerState, message_id: str, detail: str = "") -> None:
        status = ScannerStatus(state, self.source, message_id, detail)
        with self._ordered():
            if status == self._status:
                return
            self._status = status
            log.info("scanner %s: %s %s", self.source, state, detail)
            self.publish(status)


class ThreadedScanner(ScannerBase):
    """A scanner read by its own thread (serial port, camera): start once, stop and join.

    Subclasses check their prerequisites in ``_check_can_start`` (raise ScannerError) and read
    in ``_run`` until ``self._stop_event`` is set.
    """

    def __init__(self, source: str, thread_name: str) -> None:
        super().__init__(source)
        self._thread_name = thread_name
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def _check_can_start(self) -> None:
        """Raise ScannerError when the driver cannot run (library missing, no port)."""

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start the reader thread (once). Raises ScannerError from ``_check_can_start``."""
        self._check_can_start()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
            if thread.is_alive():
                log.warning("scanner thread of %s did not stop", self.source)
        self._set_status(ScannerState.STOPPED, "device.scanner.stopped")

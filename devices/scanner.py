"""QR / barcode scanners: serial, keyboard wedge, camera and a simulator behind one Protocol.

Every scanner sends two kinds of frozen events to its subscribers: ``Scanned`` (the raw text of
one scan; ``kiosk.domain.scan.ScanParser`` decides what it is) and ``ScannerStatus`` (online,
offline with a message id, stopped). A new subscriber is told the current status at once. The
subscriber list is copied under the lock and called outside it. Serial and camera scanners call
subscribers from their own reader thread: the UI moves events onto the Kivy thread itself
(``Clock.schedule_once``). The keyboard-wedge scanner is fed by the UI thread and calls back on it.

Library errors (pyserial, OpenCV) are wrapped at this boundary into ``ScannerError``.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from config.settings import ScannerSection
from kiosk.errors import ConfigError, DeviceError

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 4096
"""A serial scan longer than this without a terminator is noise (wrong terminator setting?)."""


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


class _EventSource:
    """Subscriber list and status shared by every scanner."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lock = threading.RLock()
        self._subscribers: list[ScannerCallback] = []
        self._status = ScannerStatus(ScannerState.STOPPED, source, "device.scanner.stopped")

    @property
    def status(self) -> ScannerStatus:
        with self._lock:
            return self._status

    def subscribe(self, callback: ScannerCallback) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)
            current = self._status
        self._call(callback, current)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: ScannerEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            self._call(callback, event)

    @staticmethod
    def _call(callback: ScannerCallback, event: ScannerEvent) -> None:
        try:
            callback(event)
        except Exception:  # a broken subscriber must not kill the reader thread
            log.exception("scanner subscriber %r failed on %r", callback, event)

    def _set_status(self, state: ScannerState, message_id: str, detail: str = "") -> None:
        status = ScannerStatus(state, self.source, message_id, detail)
        with self._lock:
            if status == self._status:
                return
            self._status = status
        log.info("scanner %s: %s %s", self.source, state, detail)
        self._emit(status)


# --- serial ---------------------------------------------------------------------------------

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


class SerialScanner(_EventSource):
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
        super().__init__(f"serial:{settings.port}")
        self._settings = settings
        self._splitter = LineSplitter(settings.terminator)
        self._reconnect_s = reconnect_interval_s
        self._read_timeout_s = read_timeout_s
        self._encoding = encoding
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reader thread. Raises ScannerError if no port is set or pyserial is missing."""
        if not self._settings.port:
            raise ScannerError("device.scanner.no_port", "scanner.port is empty")
        try:
            import serial  # noqa: F401
        except ImportError as err:
            raise ScannerError("device.scanner.unavailable", "pyserial is not installed") from err
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_event.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"scanner-{self._settings.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
            if thread.is_alive():
                log.warning("serial scanner thread on %s did not stop", self._settings.port)
        self._set_status(ScannerState.STOPPED, "device.scanner.stopped")

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


# --- keyboard wedge -------------------------------------------------------------------------

ENTER_KEYS = frozenset({"enter", "return", "numpadenter", "kp_enter", "\r", "\n"})
MODIFIER_KEYS = frozenset({
    "shift", "lshift", "rshift", "ctrl", "lctrl", "rctrl", "alt", "lalt", "ralt", "alt-gr",
    "super", "meta", "compose", "capslock", "numlock",
})
_KEY_CHARS = {"spacebar": " ", "space": " "}
MAX_HELD_KEYS = 256


@dataclass(frozen=True, slots=True)
class KeyDecision:
    """What the UI does with one key event.

    ``release``: keys held back earlier that turned out to be a person typing; insert them into
    the focused field now, in order, before anything else. ``pass_through``: let this key reach
    the focused field as usual; False means the scanner keeps it (return True from
    ``on_key_down`` so the field never sees it).
    """

    pass_through: bool
    release: tuple[str, ...] = ()


class KeyboardWedgeScanner(_EventSource):
    """A USB scanner that types like a keyboard, told apart from a person by keystroke timing.

    Characters closer together than ``max_key_interval_ms`` form a burst; a burst of at least
    ``min_burst_length`` characters ended by Enter is a scan. A scanner's first characters look
    like anyone's typing, so every printable key is held back until it is clear: the next key
    comes too late, a non-character key (Backspace, Tab, arrows) arrives, Enter ends a short
    burst, or ``flush(now)`` finds the hold older than the interval. Held keys are then handed
    back in ``KeyDecision.release`` for the UI to insert. The UI must call ``flush`` after
    ``next_deadline()`` (a ``Clock.schedule_once``), or a person's last key waits for the next.
    Timestamps are seconds on one monotonic clock (``time.monotonic()`` or Kivy's clock).
    """

    def __init__(self, settings: ScannerSection, *, source: str = "wedge") -> None:
        super().__init__(source)
        if settings.max_key_interval_ms <= 0:
            raise ConfigError("scanner.max_key_interval_ms", "must be positive")
        if settings.min_burst_length < 2:
            raise ConfigError("scanner.min_burst_length", "must be at least 2")
        self._max_gap = settings.max_key_interval_ms / 1000
        self._min_length = settings.min_burst_length
        self._held: list[str] = []
        self._last_ts: float | None = None
        self._enabled = False

    def start(self) -> None:
        with self._lock:
            self._enabled = True
        self._set_status(ScannerState.ONLINE, "device.scanner.online")

    def stop(self) -> None:
        """Stop reading; keys held at this moment are dropped (call ``flush`` first to keep them)."""
        with self._lock:
            self._enabled = False
            self._held.clear()
            self._last_ts = None
        self._set_status(ScannerState.STOPPED, "device.scanner.stopped")

    def feed_key(self, key: str, timestamp: float) -> KeyDecision:
        """Take one key-down event: a character, or a key name such as ``enter``, ``backspace``."""
        scan: Scanned | None = None
        with self._lock:
            decision, text = self._decide(_KEY_CHARS.get(key, key), timestamp)
            if text is not None:
                scan = Scanned(text, self.source)
        if scan is not None:
            log.debug("wedge scan %r", scan.text)
            self._emit(scan)
        return decision

    def flush(self, now: float) -> tuple[str, ...]:
        """Release held keys if no key followed within the interval; the UI inserts them."""
        with self._lock:
            if self._held and self._last_ts is not None and now - self._last_ts > self._max_gap:
                return self._take()
            return ()

    def next_deadline(self) -> float | None:
        """When ``flush`` will release what is held now (None: nothing is held)."""
        with self._lock:
            if not self._held or self._last_ts is None:
                return None
            return self._last_ts + self._max_gap

    @property
    def holding(self) -> bool:
        with self._lock:
            return bool(self._held)

    def _take(self) -> tuple[str, ...]:
        held = tuple(self._held)
        self._held.clear()
        self._last_ts = None
        return held

    def _decide(self, key: str, ts: float) -> tuple[KeyDecision, str | None]:
        if not self._enabled:
            return KeyDecision(pass_through=True), None
        name = key.lower() if len(key) > 1 else key
        if name in MODIFIER_KEYS:
            # Scanners press Shift for capitals: no effect on the timing; kept inside a burst.
            return KeyDecision(pass_through=not self._held), None
        in_time = self._last_ts is not None and 0 <= ts - self._last_ts <= self._max_gap
        if name in ENTER_KEYS:
            if in_time and len(self._held) >= self._min_length:
                return KeyDecision(pass_through=False), "".join(self._take())
            return KeyDecision(pass_through=True, release=self._take()), None
        if len(key) == 1 and key.isprintable():
            release = () if in_time else self._take()
            self._held.append(key)
            self._last_ts = ts
            if len(self._held) > MAX_HELD_KEYS:  # a key held down on auto-repeat, not a scan
                release += self._take()
            return KeyDecision(pass_through=False, release=release), None
        # Backspace, Tab, arrows, Escape...: never inside a scan; what was held was typing.
        return KeyDecision(pass_through=True, release=self._take()), None


# --- simulator ------------------------------------------------------------------------------


class SimulatedScanner(_EventSource):
    """Demo and test scanner: ``scan(text)`` delivers a scan as a real device would."""

    def __init__(self, source: str = "simulated") -> None:
        super().__init__(source)
        self._running = False

    def start(self) -> None:
        self._running = True
        self._set_status(ScannerState.ONLINE, "device.scanner.online")

    def stop(self) -> None:
        self._running = False
        self._set_status(ScannerState.STOPPED, "device.scanner.stopped")

    def scan(self, text: str) -> bool:
        """Deliver ``text`` to subscribers; False (and nothing sent) while stopped."""
        if not self._running:
            log.warning("simulated scan %r ignored: scanner stopped", text)
            return False
        self._emit(Scanned(text, self.source))
        return True

    def disconnect(self, detail: str = "simulated unplug") -> None:
        """Pretend the scanner was unplugged (diagnostics, UI tests)."""
        self._running = False
        self._set_status(ScannerState.OFFLINE, "device.scanner.disconnected", detail)


# --- camera (optional) ----------------------------------------------------------------------

FrameSource = Callable[[], Any]
"""Returns one frame (a PIL image or a numpy array) or None when no frame is ready."""


def _opencv_frames(index: int) -> tuple[FrameSource, Callable[[], None]]:
    """A frame source from camera ``index`` through OpenCV. Raises ScannerError."""
    try:
        import cv2
    except ImportError as err:
        raise ScannerError("device.scanner.unavailable", "OpenCV (cv2) is not installed") from err
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise ScannerError("device.scanner.unavailable", f"camera {index} cannot be opened")

    def read() -> Any:
        ok, frame = capture.read()
        return frame if ok else None

    return read, capture.release


class CameraScanner(_EventSource):
    """Decodes QR codes and barcodes from camera frames with zxing-cpp in a reader thread.

    The same text held in front of the camera is reported once until it has been out of view
    for ``repeat_after_s``. ``frame_source`` defaults to OpenCV on ``settings.camera_index``.
    """

    def __init__(
        self,
        settings: ScannerSection,
        *,
        frame_source: FrameSource | None = None,
        interval_s: float = 0.1,
        repeat_after_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(f"camera:{settings.camera_index}")
        self._settings = settings
        self._frame_source = frame_source
        self._release: Callable[[], None] = lambda: None
        self._interval_s = interval_s
        self._repeat_after_s = repeat_after_s
        self._monotonic = monotonic
        self._last_seen: dict[str, float] = {}
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start decoding. Raises ScannerError if zxing-cpp or the camera is unavailable."""
        try:
            import zxingcpp  # noqa: F401
        except ImportError as err:
            raise ScannerError("device.scanner.unavailable", "zxing-cpp is not installed") from err
        if self._thread is not None and self._thread.is_alive():
            return
        if self._frame_source is None:
            self._frame_source, self._release = _opencv_frames(self._settings.camera_index)
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="scanner-camera", daemon=True)
        self._thread.start()
        self._set_status(ScannerState.ONLINE, "device.scanner.online")

    def stop(self) -> None:
        self._stop_event.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        self._release()
        self._set_status(ScannerState.STOPPED, "device.scanner.stopped")

    def decode_frame(self, frame: Any) -> list[str]:
        """Texts of the codes in one frame, each reported once while it stays in view."""
        import zxingcpp

        now = self._monotonic()
        texts = [r.text for r in zxingcpp.read_barcodes(frame) if r.valid and r.text]
        fresh = [t for t in texts if now - self._last_seen.get(t, -1e18) > self._repeat_after_s]
        for t in texts:
            self._last_seen[t] = now
        self._last_seen = {
            t: s for t, s in self._last_seen.items() if now - s <= self._repeat_after_s
        }
        return list(dict.fromkeys(fresh))

    def _run(self) -> None:
        assert self._frame_source is not None
        while not self._stop_event.is_set():
            try:
                frame = self._frame_source()
                texts: Iterable[str] = self.decode_frame(frame) if frame is not None else ()
            except Exception as err:  # camera backends raise anything; report, keep trying
                self._set_status(ScannerState.OFFLINE, "device.scanner.disconnected", str(err))
            else:
                if frame is not None:
                    self._set_status(ScannerState.ONLINE, "device.scanner.online")
                for text in texts:
                    self._emit(Scanned(text, self.source))
            self._stop_event.wait(self._interval_s)


def build_scanner(settings: ScannerSection) -> Scanner:
    """The scanner named by ``settings.type``. Raises ConfigError for an unknown type."""
    if settings.type == "serial":
        if not settings.port:
            raise ConfigError("scanner.port", "a serial scanner needs a port, e.g. /dev/ttyACM0")
        return SerialScanner(settings)
    if settings.type == "wedge":
        return KeyboardWedgeScanner(settings)
    if settings.type == "simulated":
        return SimulatedScanner()
    if settings.type == "camera":
        return CameraScanner(settings)
    raise ConfigError("scanner.type", f"unknown scanner type {settings.type!r}")

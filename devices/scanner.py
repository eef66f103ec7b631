"""QR / barcode scanners: serial, keyboard wedge, camera and a simulator behind one Protocol.

Every scanner sends two kinds of frozen events to its subscribers: ``Scanned`` (the raw text of
one scan; ``library_core.scan.ScanParser`` decides what it is) and ``ScannerStatus`` (online,
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from config.settings import ScannerSection
from library_core.errors import ConfigError, DeviceError

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
MAX_BURST_KEYS = 256
"""A burst longer than this is a key held down on auto-repeat, not a scan: it is dropped."""


class KeyboardWedgeScanner(_EventSource):
    """A USB scanner that types like a keyboard, told apart from a person by keystroke timing.

    The kiosk has no physical keyboard input: every key event goes to this scanner and never into
    a text field (people type on the on-screen keyboard). Characters closer together than
    ``max_key_interval_ms`` form a burst; a burst of at least ``min_burst_length`` characters
    ended by Enter in time is a scan. Anything else (slow keys, a short burst, a late Enter, a
    non-character key such as Backspace) is dropped. Timestamps are seconds on one monotonic
    clock (``time.monotonic()`` or Kivy's clock).
    """

    def __init__(self, settings: ScannerSection, *, source: str = "wedge") -> None:
        super().__init__(source)
        if settings.max_key_interval_ms <= 0:
            raise ConfigError("scanner.max_key_interval_ms", "must be positive")
        if settings.min_burst_length < 2:
            raise ConfigError("scanner.min_burst_length", "must be at least 2")
        self._max_gap = settings.max_key_interval_ms / 1000
        self._min_length = settings.min_burst_length
        self._burst: list[str] = []
        self._last_ts: float | None = None
        self._runaway = False
        self._enabled = False

    def start(self) -> None:
        with self._lock:
            self._enabled = True
        self._set_status(ScannerState.ONLINE, "device.scanner.online")

    def stop(self) -> None:
        """Stop reading; a burst under way is dropped."""
        with self._lock:
            self._enabled = False
            self._drop()
        self._set_status(ScannerState.STOPPED, "device.scanner.stopped")

    def feed_key(self, key: str, timestamp: float) -> None:
        """Take one key-down event: a character, or a key name such as ``enter``, ``backspace``."""
        with self._lock:
            text = self._decide(_KEY_CHARS.get(key, key), timestamp)
        if text is not None:
            log.debug("wedge scan %r", text)
            self._emit(Scanned(text, self.source))

    def _drop(self) -> None:
        self._burst.clear()
        self._last_ts = None
        self._runaway = False

    def _decide(self, key: str, ts: float) -> str | None:
        """The scanned text if this key ends a scan, else None."""
        if not self._enabled:
            return None
        name = key.lower() if len(key) > 1 else key
        if name in MODIFIER_KEYS:
            return None  # scanners press Shift for capitals: no effect on the timing
        in_time = self._last_ts is not None and 0 <= ts - self._last_ts <= self._max_gap
        if name in ENTER_KEYS:
            text = "".join(self._burst) if in_time and len(self._burst) >= self._min_length else None
            self._drop()
            return text
        if len(key) == 1 and key.isprintable():
            if not in_time:
                self._burst.clear()
                self._runaway = False
            self._last_ts = ts
            if not self._runaway:
                self._burst.append(key)
                if len(self._burst) > MAX_BURST_KEYS:  # dropped until a gap ends the repeat
                    self._burst.clear()
                    self._runaway = True
            return None
        self._drop()  # Backspace, Tab, arrows, Escape...: never inside a scan
        return None


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


# --- camera -----------------------------------------------------------------------------------

FrameSource = Callable[[], Any]
"""Returns one frame (a PIL image or a numpy array), None when no frame came, or raises
``FramesEnded`` when a video file has no more frames."""

FrameOpener = Callable[[], tuple[FrameSource, Callable[[], None]]]
"""Opens the camera: returns (read one frame, release). Raises ScannerError."""

CAMERA_INTERVAL_S = 0.1
"""Pause between decoded frames of a live camera (bounds the CPU spent on decoding)."""

MISSED_FRAMES_OFFLINE = 25
"""This many reads in a row without a frame: the camera is gone; release it and reopen."""


class FramesEnded(Exception):
    """A video file (``scanner.camera_source``) has no more frames."""


def opencv_frames(settings: ScannerSection) -> tuple[FrameSource, Callable[[], None]]:
    """Open ``settings.camera_source`` (a video file or device path) or camera
    ``settings.camera_index`` with OpenCV; frames come as grey numpy arrays.

    Raises ScannerError (``device.scanner.unavailable`` without OpenCV,
    ``device.scanner.camera_unavailable`` when it cannot be opened).
    """
    try:
        import cv2
    except ImportError as err:
        raise ScannerError("device.scanner.unavailable", "OpenCV (cv2) is not installed") from err
    target: str | int = settings.camera_source or settings.camera_index
    is_file = bool(settings.camera_source) and Path(settings.camera_source).is_file()
    try:
        capture = cv2.VideoCapture(target)
        opened = bool(capture.isOpened())
    except cv2.error as err:
        raise ScannerError("device.scanner.camera_unavailable", f"camera {target}: {err}") from err
    if not opened:
        capture.release()
        raise ScannerError("device.scanner.camera_unavailable", f"camera {target} cannot be opened")

    def read() -> Any:
        try:
            ok, frame = capture.read()
        except cv2.error as err:
            raise ScannerError("device.scanner.disconnected", f"camera {target}: {err}") from err
        if not ok or frame is None:
            if is_file:
                raise FramesEnded(str(target))
            return None
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame

    return read, capture.release


class CameraScanner(_EventSource):
    """Decodes QR codes and barcodes from camera frames with zxing-cpp in a reader thread.

    Frames come from OpenCV: camera ``settings.camera_index``, or ``settings.camera_source`` (a
    device path or a video file, which plays once). A code that stays in view is one scan: the
    same text is reported again only after it has been out of view for ``repeat_after_s``. A
    camera that cannot be opened, or stops giving frames, goes offline
    (``device.scanner.camera_unavailable`` / ``device.scanner.disconnected``) and is reopened
    every ``reconnect_interval_s``; a video file that ends goes offline with
    ``device.scanner.camera_ended``. Live frames are decoded every ``interval_s``. ``open_frames`` replaces OpenCV (tests, other backends).
    """

    def __init__(
        self,
        settings: ScannerSection,
        *,
        open_frames: FrameOpener | None = None,
        interval_s: float | None = None,
        repeat_after_s: float = 2.0,
        reconnect_interval_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(f"camera:{settings.camera_source or settings.camera_index}")
        self._settings = settings
        self._open_frames: FrameOpener = open_frames or (lambda: opencv_frames(settings))
        if interval_s is None:  # a live camera is paced; a video file plays as fast as it decodes
            from_file = bool(settings.camera_source) and Path(settings.camera_source).is_file()
            interval_s = 0.0 if from_file else CAMERA_INTERVAL_S
        self._interval_s = interval_s
        self._repeat_after_s = repeat_after_s
        self._reconnect_s = reconnect_interval_s
        self._monotonic = monotonic
        self._last_seen: dict[str, float] = {}
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reader thread. Raises ScannerError if zxing-cpp is not installed."""
        try:
            import zxingcpp  # noqa: F401
        except ImportError as err:
            raise ScannerError("device.scanner.unavailable", "zxing-cpp is not installed") from err
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="scanner-camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
            if thread.is_alive():
                log.warning("camera scanner thread on %s did not stop", self.source)
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
            t: seen for t, seen in self._last_seen.items() if now - seen <= self._repeat_after_s
        }
        return list(dict.fromkeys(fresh))

    def _run(self) -> None:
        while not self._stop_event.is_set():
            try:
                read, release = self._open_frames()
            except ScannerError as err:
                log.warning("camera %s: %s", self.source, err.detail)
                self._set_status(ScannerState.OFFLINE, err.message_id, err.detail)
                self._stop_event.wait(self._reconnect_s)
                continue
            self._set_status(ScannerState.ONLINE, "device.scanner.online")
            try:
                ended = self._read_frames(read)
            finally:
                try:
                    release()
                except Exception:  # releasing a vanished camera may fail any way
                    log.debug("releasing %s failed", self.source, exc_info=True)
            if ended:
                return
            self._stop_event.wait(self._reconnect_s)

    def _read_frames(self, read: FrameSource) -> bool:
        """Decode frames until stop, the end of a file (True) or a lost camera (False)."""
        missed = 0
        while not self._stop_event.is_set():
            try:
                frame = read()
                texts = self.decode_frame(frame) if frame is not None else []
            except FramesEnded as end:
                log.info("camera source %s ended", end)
                self._set_status(ScannerState.OFFLINE, "device.scanner.camera_ended", str(end))
                return True
            except Exception as err:  # camera backends raise anything; report, reopen
                log.warning("camera %s failed: %s", self.source, err)
                self._set_status(ScannerState.OFFLINE, "device.scanner.disconnected", str(err))
                return False
            if frame is None:
                missed += 1
                if missed >= MISSED_FRAMES_OFFLINE:
                    self._set_status(ScannerState.OFFLINE, "device.scanner.disconnected",
                                     f"no frame from {self.source}")
                    return False
            else:
                missed = 0
                self._set_status(ScannerState.ONLINE, "device.scanner.online")
            for text in texts:
                log.debug("camera scan %r", text)
                self._emit(Scanned(text, self.source))
            if self._interval_s > 0:
                self._stop_event.wait(self._interval_s)
        return True


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

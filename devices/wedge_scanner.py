"""A USB scanner that types like a keyboard (a keyboard wedge), told apart by keystroke timing."""

from __future__ import annotations

import logging
import threading

from config.settings import ScannerSection
from devices.scanner import Scanned, ScannerBase, ScannerState
from library_core.errors import ConfigError

log = logging.getLogger(__name__)

ENTER_KEYS = frozenset({"enter", "return", "numpadenter", "kp_enter", "\r", "\n"})
MODIFIER_KEYS = frozenset({
    "shift", "lshift", "rshift", "ctrl", "lctrl", "rctrl", "alt", "lalt", "ralt", "alt-gr",
    "super", "meta", "compose", "capslock", "numlock",
})
_KEY_CHARS = {"spacebar": " ", "space": " "}
MAX_BURST_KEYS = 256
"""A burst longer than this is a key held down on auto-repeat, not a scan: it is dropped."""


class KeyboardWedgeScanner(ScannerBase):
    """A USB scanner that types like a keyboard, told apart from a person by keystroke timing.

    The kiosk has no physical keyboard input: every key event goes to this scanner and never into
    a text field (people type on the on-screen keyboard). Characters closer together than
    ``max_key_interval_ms`` form a burst; a burst of at least ``min_burst_length`` characters
    ended by Enter in time is a scan. Anything else (slow keys, a short burst, a late Enter, a
    non-character key such as Backspace) is dropped. Timestamps are seconds on one monotonic
    clock (``time.monotonic()`` or Kivy's clock), taken when the UI loop reads the key.

    The UI loop reads keys between frames, so a frame that stalls (a screen built, memory given
    back) holds the keys typed meanwhile and then reads them with a gap that the scanner never
    made (seen: 150 ms inside one scan, which was dropped). With ``frame``, the loop's frame
    counter, two keys read in the same or the next frame are in time whatever the clock says: no
    frame ran between them in which the later key could have been read.
    """

    def __init__(self, settings: ScannerSection, *, source: str = "wedge") -> None:
        super().__init__(source)
        self._lock = threading.Lock()  # the burst under way
        if settings.max_key_interval_ms <= 0:
            raise ConfigError("scanner.max_key_interval_ms", "must be positive")
        if settings.min_burst_length < 2:
            raise ConfigError("scanner.min_burst_length", "must be at least 2")
        self._max_gap = settings.max_key_interval_ms / 1000
        self._min_length = settings.min_burst_length
        self._burst: list[str] = []
        self._last_ts: float | None = None
        self._last_frame: int | None = None
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

    def feed_key(self, key: str, timestamp: float, frame: int | None = None) -> None:
        """Take one key-down event: a character, or a key name such as ``enter``, ``backspace``;
        ``frame`` is the UI loop's frame counter when it was read (see the class)."""
        with self._lock:
            text = self._decide(_KEY_CHARS.get(key, key), timestamp, frame)
        if text is not None:
            log.debug("wedge scan %r", text)
            self._emit(Scanned(text, self.source))

    def _drop(self) -> None:
        self._burst.clear()
        self._last_ts = None
        self._last_frame = None
        self._runaway = False

    def _in_time(self, ts: float, frame: int | None) -> bool:
        if self._last_ts is None:
            return False
        if frame is not None and self._last_frame is not None and 0 <= frame - self._last_frame <= 1:
            return True  # no frame between the two reads: a stall, not a slow key
        return 0 <= ts - self._last_ts <= self._max_gap

    def _decide(self, key: str, ts: float, frame: int | None) -> str | None:
        """The scanned text if this key ends a scan, else None."""
        if not self._enabled:
            return None
        name = key.lower() if len(key) > 1 else key
        if name in MODIFIER_KEYS:
            return None  # scanners press Shift for capitals: no effect on the timing
        in_time = self._in_time(ts, frame)
        if name in ENTER_KEYS:
            text = "".join(self._burst) if in_time and len(self._burst) >= self._min_length else None
            self._drop()
            return text
        if len(key) == 1 and key.isprintable():
            if not in_time:
                self._burst.clear()
                self._runaway = False
            self._last_ts, self._last_frame = ts, frame
            if not self._runaway:
                self._burst.append(key)
                if len(self._burst) > MAX_BURST_KEYS:  # dropped until a gap ends the repeat
                    self._burst.clear()
                    self._runaway = True
            return None
        self._drop()  # Backspace, Tab, arrows, Escape...: never inside a scan
        return None

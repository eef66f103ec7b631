"""Injected clocks: business code asks a clock for the time, never ``datetime.now()``."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Timezone-aware current time."""
        ...


class SystemClock:
    """Wall-clock time in the library's time zone."""

    def __init__(self, tz: dt.tzinfo = CHINA_TZ) -> None:
        self.tz = tz

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.tz)


class FixedClock:
    """A clock that only moves when told to (tests, demo walk-through)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=CHINA_TZ)
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> dt.datetime:
        with self._lock:
            self._now = self._now + dt.timedelta(**delta)
            return self._now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._now = when if when.tzinfo else when.replace(tzinfo=CHINA_TZ)

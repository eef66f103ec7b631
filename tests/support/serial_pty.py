"""A serial device for tests: a pseudo-terminal pair behind a stable symlink.

The driver under test opens the symlink (like ``/dev/serial/by-id/...``); the test writes to the
master end as the device would. ``unplug()`` closes the pty so the port vanishes under the
driver; ``replug()`` makes a new pty and points the same symlink at it.

Also ``EventLog``: collects events from a device thread and waits (bounded) for one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


class PtyPort:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.replug()

    def replug(self) -> None:
        self.unplug()
        self.master, self.slave = os.openpty()
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self.slave))
        tmp.replace(self.link)

    def unplug(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None
        self.link.unlink(missing_ok=True)

    def write(self, data: bytes) -> None:
        assert self.master is not None, "port is unplugged"
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]

    @property
    def path(self) -> str:
        return str(self.link)


@pytest.fixture
def pty_port(tmp_path: Path) -> Iterator[PtyPort]:
    port = PtyPort(tmp_path / "ttyScanner")
    yield port
    port.unplug()


class EventLog:
    """Thread-safe list of events with a bounded wait for the next one that matches."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._cond = threading.Condition()
        self._seen = 0

    def __call__(self, event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, match: Callable[[Any], bool], timeout: float = 60.0) -> Any:
        """The next event (after those already returned) that matches; fails after timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(self._seen, len(self.events)):
                    if match(self.events[i]):
                        self._seen = i + 1
                        return self.events[i]
                self._seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    raise AssertionError(f"no matching event within {timeout}s; got {self.events}")

    def of_type(self, cls: type) -> list[Any]:
        with self._cond:
            return [e for e in self.events if isinstance(e, cls)]

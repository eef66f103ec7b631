"""A receipt printer on a loopback TCP socket (receipts to print: ``tests.support.receipts``).

``SocketPrinter`` listens on 127.0.0.1 (port 0), records every connection's bytes as one job
(status queries taken out) and answers ``DLE EOT 1/2/4`` like an Epson-compatible printer in
the state it is put in: ok, paper near end, paper out, cover open, silent (never answers) or
drop (closes the connection with a reset part-way through a job). ``after_job`` switches the
state as soon as job bytes arrive (paper running out while printing).

Use the ``printer_socket`` fixture, or ``with SocketPrinter() as p:``.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import enum
import itertools
import logging
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from library_core.clock import CHINA_TZ

log = logging.getLogger(__name__)


class PrinterState(enum.Enum):
    OK = "ok"
    NEAR_END = "near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    SILENT = "silent"
    DROP = "drop"


# DLE EOT 1 (printer), 2 (offline cause), 4 (paper sensor) replies, Epson bit layout
STATUS_REPLIES: dict[PrinterState, dict[int, int]] = {
    PrinterState.OK: {1: 0x16, 2: 0x12, 3: 0x12, 4: 0x12},
    PrinterState.NEAR_END: {1: 0x16, 2: 0x12, 3: 0x12, 4: 0x1E},
    PrinterState.PAPER_OUT: {1: 0x1E, 2: 0x32, 3: 0x12, 4: 0x72},
    PrinterState.COVER_OPEN: {1: 0x1E, 2: 0x16, 3: 0x12, 4: 0x12},
    PrinterState.DROP: {1: 0x16, 2: 0x12, 3: 0x12, 4: 0x12},
}


@dataclass
class Connection:
    opened: int = 0  # the order it was accepted in: the order the client connected
    job: bytearray = field(default_factory=bytearray)
    queries: list[int] = field(default_factory=list)
    dropped: bool = False


class SocketPrinter:
    """An ESC/POS printer on 127.0.0.1 that tests can put into any state."""

    def __init__(
        self,
        state: PrinterState = PrinterState.OK,
        *,
        drop_after: int = 64,
        after_job: PrinterState | None = None,
    ) -> None:
        self._state = state
        self.drop_after = drop_after
        self.after_job = after_job  # the state to switch to once a job's bytes arrive
        self.connections: list[Connection] = []  # finished ones, in the order they opened
        self._opened = itertools.count()
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.host, self.port = self._server.getsockname()[:2]
        self._threads: list[threading.Thread] = []
        self._clients: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, name="printer-socket", daemon=True)
        self._acceptor.start()

    # control ----------------------------------------------------------------------------

    @property
    def state(self) -> PrinterState:
        with self._cond:
            return self._state

    def set_state(self, state: PrinterState) -> None:
        with self._cond:
            self._state = state

    @property
    def jobs(self) -> list[bytes]:
        """Bytes of every finished connection that carried more than status queries."""
        with self._cond:
            return [bytes(c.job) for c in self.connections if c.job]

    def wait_for_connections(self, count: int, timeout: float = 60.0) -> bool:
        """Wait (bounded) until ``count`` connections have finished. A connection is recorded
        when this side reads the client's close, which on a loaded machine can come well after
        the driver has returned. Counts status-only connections too: a kiosk app polls the
        printer's status on its own, so to wait for a receipt use ``wait_for_job``."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.connections) >= count, timeout)

    def wait_for_job(self, match: Callable[[bytes], bool], what: str,
                     timeout: float = 60.0) -> bytes:
        """The first finished job that ``match``es; waits (bounded) for it to be recorded,
        failing with ``what`` and the jobs that did arrive."""
        def found() -> bytes | None:
            return next((bytes(c.job) for c in self.connections if c.job and match(bytes(c.job))),
                        None)

        with self._cond:
            job = self._cond.wait_for(found, timeout)
            if job is not None:
                return job
            raise AssertionError(f"{what}: no such job at the printer socket within {timeout} s; "
                                 f"{len(self.connections)} connections, jobs of "
                                 f"{[len(c.job) for c in self.connections]} bytes")

    def close(self) -> None:
        self._closed.set()
        self._acceptor.join(timeout=2)
        for client in list(self._clients):
            with contextlib.suppress(OSError):
                client.close()
        for t in self._threads:
            t.join(timeout=2)
        self._server.close()

    def __enter__(self) -> SocketPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # serving ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._clients.append(client)
            t = threading.Thread(target=self._serve, args=(client, next(self._opened)),
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, client: socket.socket, opened: int) -> None:
        conn = Connection(opened)
        pending = b""
        client.settimeout(0.2)
        try:
            while not self._closed.is_set():
                try:
                    chunk = client.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                pending += chunk
                pending = self._consume(client, conn, pending)
                if conn.dropped:
                    break
        finally:
            if conn.dropped:  # a reset, not a polite close: like a printer losing power
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            with self._cond:  # each thread sees its close in its own time: kept in open order
                bisect.insort(self.connections, conn, key=lambda c: c.opened)
                self._cond.notify_all()

    def _consume(self, client: socket.socket, conn: Connection, data: bytes) -> bytes:
        """Split status queries from job bytes; answer queries; return an incomplete tail."""
        i = 0
        state = self.state
        while i < len(data):
            if data[i] == 0x10:
                if len(data) - i < 3:
                    return data[i:]
                if data[i + 1] == 0x04 and data[i + 2] in (1, 2, 3, 4):
                    n = data[i + 2]
                    conn.queries.append(n)
                    i += 3
                    if state is not PrinterState.SILENT:
                        client.sendall(bytes([STATUS_REPLIES[state][n]]))
                    continue
            conn.job.append(data[i])
            i += 1
            if self.after_job is not None:  # e.g. the paper runs out while printing
                self.set_state(self.after_job)
                state, self.after_job = self.after_job, None
            if state is PrinterState.DROP and len(conn.job) >= self.drop_after:
                conn.dropped = True
                return b""
        return b""


@pytest.fixture
def printer_socket() -> Iterator[SocketPrinter]:
    """A printer on 127.0.0.1 in state OK; stopped after the test."""
    printer = SocketPrinter()
    try:
        yield printer
    finally:
        printer.close()


# -- receipts --------------------------------------------------------------------------------
# Receipts for printer tests come from the real use cases: see tests/support/receipts.py.

SAMPLE_TIME = dt.datetime(2026, 11, 24, 10, 32, 5, tzinfo=CHINA_TZ)  # for byte-level layout tests

"""A real pcscd with the vsmartcard-vpcd virtual readers, for tests.

``pcscd`` (session fixture) makes sure one pcscd runs: it uses one that already runs, or starts
``pcscd --foreground --error`` itself, waits for ``/run/pcscd/pcscd.comm`` and for the reader
"Virtual PCD 00 00", and at the end stops pcscd only if it started it. Only one pcscd can run
on a machine and only one virtual card fits in the reader, so the fixture also holds an
exclusive lock (``/tmp/library-kiosk-pcscd.lock``) for the whole session: two test sessions
that both use it take turns instead of stealing each other's card.

``PcscDaemon.kill()`` / ``start()`` / ``restart()`` let a recovery test take pcscd away and bring
it back; they only ever touch a pcscd this fixture started (it refuses to kill anyone else's).

Use it with ``from tests.support.pcscd import pcscd  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

log = logging.getLogger(__name__)

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
VIRTUAL_READER = "Virtual PCD 00 00"
LOCK_FILE = Path(tempfile.gettempdir()) / "library-kiosk-pcscd.lock"
LOCK_TIMEOUT_S = 240.0


def running_pcscd_pids() -> list[int]:
    """Pids of every pcscd on the machine (``pgrep -x pcscd``)."""
    out = subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def list_readers() -> list[str]:
    """Reader names pcscd reports now; [] when pcscd is down or has none."""
    from smartcard import scard

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return []
    try:
        hresult, readers = scard.SCardListReaders(context, [])
        return list(readers) if hresult == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


class PcscDaemon:
    """The machine's pcscd: used as found, or started (and later stopped) by us."""

    def __init__(self, log_dir: Path) -> None:
        self.log_path = log_dir / "pcscd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_by_us = False

    @property
    def pid(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        pids = running_pcscd_pids()
        return pids[0] if pids else None

    def ensure_running(self, timeout: float = 15.0) -> None:
        if not running_pcscd_pids():
            self.start(timeout)
        else:
            log.info("using the pcscd that already runs (pid %s)", self.pid)
            self.wait_ready(timeout)

    def start(self, timeout: float = 15.0, *, with_reader: bool = True) -> None:
        """Start ``pcscd --foreground --error`` and wait for its socket and virtual reader.

        ``with_reader=False`` starts it with an empty reader configuration (``--config``):
        pcscd runs but no reader is plugged in.
        """
        if running_pcscd_pids():
            raise RuntimeError(f"a pcscd already runs (pid {running_pcscd_pids()}); only one per machine")
        command = ["pcscd", "--foreground", "--error"]
        if not with_reader:
            empty = self.log_path.parent / "no-readers.conf.d"
            empty.mkdir(exist_ok=True)
            command += ["--config", str(empty)]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.started_by_us = True
        log.info("started pcscd pid %d (%s)", self.process.pid, " ".join(command))
        self.wait_ready(timeout, with_reader=with_reader)

    def wait_ready(self, timeout: float = 15.0, *, with_reader: bool = True) -> None:
        """Wait until the socket exists and pcscd lists the virtual reader (if expected)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self.process.returncode}; see {self.log_path}")
            readers = list_readers() if PCSCD_SOCKET.exists() else None
            if readers is not None and (VIRTUAL_READER in readers) == with_reader and (
                with_reader or self._answers()
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"pcscd did not offer {VIRTUAL_READER!r} within {timeout} s "
                    "(is vsmartcard-vpcd installed?)"
                )
            time.sleep(0.05)

    @staticmethod
    def _answers() -> bool:
        from smartcard import scard

        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult == scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(context)
            return True
        return False

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> None:
        """Take pcscd away (SIGKILL: as if it crashed). Only a pcscd we started."""
        if self.process is None or not self.started_by_us:
            raise RuntimeError(
                f"pcscd (pid {self.pid}) was not started by this test session; stop it first so "
                "the fixture can start and own one"
            )
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout)
        self.process = None

    def restart(self, timeout: float = 15.0, *, with_reader: bool = True) -> None:
        self.kill(signal.SIGTERM)
        self.start(timeout, with_reader=with_reader)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop pcscd if we started it; leave anyone else's alone."""
        if self.process is None or not self.started_by_us:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        log.info("stopped pcscd pid %d", self.process.pid)
        self.process = None


@contextlib.contextmanager
def held_pcscd(log_dir: Path, *, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[PcscDaemon]:
    """pcscd with the virtual reader, held under the machine-wide lock file (tests and benchmarks
    take turns); stopped and released on exit. Raises TimeoutError if the lock stays taken."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + lock_timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another session holds {LOCK_FILE}") from None
                time.sleep(0.2)
        daemon = PcscDaemon(log_dir)
        daemon.ensure_running()
        try:
            yield daemon
        finally:
            daemon.stop()
    finally:
        os.close(fd)  # releases the lock


# pytest makes one session fixture per module that imports ``pcscd``; within one process they
# must share the one daemon (a second flock on the lock file would wait for the first forever).
_shared: dict[str, Any] = {"held": None, "daemon": None, "users": 0}


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscDaemon]:
    """A running pcscd with the virtual reader, held exclusively for this test session."""
    if _shared["daemon"] is None:
        held = held_pcscd(tmp_path_factory.mktemp("pcscd"))
        _shared.update(held=held, daemon=held.__enter__())
    _shared["users"] += 1
    try:
        yield _shared["daemon"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            held = _shared["held"]
            _shared.update(held=None, daemon=None)
            held.__exit__(None, None, None)

"""The background sync loop: a round every few seconds on its own thread, its status published
to subscribers (``library_core.observable``)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from library_core.errors import SyncError
from library_core.observable import EventSource
from server_client.sync.client import SyncAuthError, SyncOffline
from server_client.sync.engine import SyncEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncStatus:
    """What the UI shows: online or not, events waiting, last good sync, last error.

    ``online`` means the last round's push and pull were both accepted (a server that answered
    401, a sequence gap or 5xx after retries is not online). ``state`` says why not:
    ``offline`` (not reached), ``refused`` (reached, did not accept), ``revoked`` (this kiosk's
    token was refused: it must stop taking payments until it is enrolled again).
    """

    online: bool = False
    pending: int = 0
    last_sync_at: dt.datetime | None = None
    last_error: str = ""
    conflicts: int = 0
    rejected: int = 0
    running: bool = False
    state: str = "unknown"  # unknown | online | offline | refused | revoked

    @property
    def revoked(self) -> bool:
        return self.state == "revoked"


class SyncLoop(EventSource[SyncStatus]):
    """Runs ``SyncEngine.sync_once`` every ``interval_s`` in a thread; ``wake()`` syncs now.

    ``status`` is a frozen SyncStatus; subscribers (``library_core.observable``) get the current
    one at once and then each new one, in order (from the sync thread: a UI hands it to its own
    thread); ``subscribe`` returns the unsubscribe handle.
    """

    def __init__(self, engine: SyncEngine, *, interval_s: float = 5.0,
                 max_interval_s: float = 60.0) -> None:
        super().__init__(name="sync loop")
        self.engine = engine
        self.interval_s = interval_s
        self.max_interval_s = max_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = SyncStatus(pending=self._safe_pending(),
                                  last_sync_at=self._safe_last_sync())

    @property
    def status(self) -> SyncStatus:
        return self._status

    def current_events(self) -> Sequence[SyncStatus]:
        return (self._status,)

    def _publish(self, status: SyncStatus) -> None:
        with self._ordered():
            self._status = status
            self.publish(status)  # a broken subscriber is logged and never stops sync

    def _safe_pending(self) -> int:
        try:
            return self.engine.store.pending_count()
        except Exception:
            log.exception("pending_count failed")
            return 0

    def _safe_last_sync(self) -> dt.datetime | None:
        try:
            return self.engine.store.last_sync_at()
        except Exception:
            log.exception("last_sync_at failed")
            return None

    def run_once(self) -> SyncStatus:
        """One round now, on the calling thread; returns the new status."""
        try:
            report = self.engine.sync_once()
        except SyncOffline as err:
            status = replace(self._status, online=False, last_error=err.message_id,
                             pending=self._safe_pending(), state="offline")
        except SyncAuthError as err:  # revoked or never enrolled: stop until enrolled again
            log.error("record server refused this kiosk's token: %s", err)
            status = replace(self._status, online=False, last_error=str(err),
                             pending=self._safe_pending(), state="revoked")
        except SyncError as err:  # answered, but did not accept (gap, 4xx, 5xx after retries)
            log.warning("sync failed: %s", err)
            status = replace(self._status, online=False, last_error=str(err),
                             pending=self._safe_pending(), state="refused")
        except Exception as err:  # the loop must survive anything the store or network throws
            log.exception("sync round failed")
            status = replace(self._status, online=False,
                             last_error=f"{type(err).__name__}: {err}",
                             pending=self._safe_pending(), state="refused")
        else:
            status = replace(self._status, online=True, last_error="",
                             pending=self._safe_pending(), last_sync_at=self._safe_last_sync(),
                             conflicts=self._status.conflicts + report.conflicts,
                             rejected=self._status.rejected + report.rejected, state="online")
        self._publish(status)
        return status

    def _resume(self) -> None:
        """Until it has worked once: learn the kiosk's position from the server and move the
        store forward (``SyncEngine.resume``; a wiped or restored store)."""
        if getattr(self.engine, "resumed", True):
            return
        try:
            self.engine.resume()
        except SyncError as err:
            log.info("cannot learn this kiosk's position from the server yet: %s", err)
        except Exception:
            log.exception("resume from the server's position failed")

    def _run(self) -> None:
        delay = self.interval_s
        while not self._stop.is_set():
            self._resume()
            status = self.run_once()
            delay = self.interval_s if not status.last_error else min(self.max_interval_s,
                                                                       max(delay * 2, self.interval_s))
            self._wake.wait(delay)
            self._wake.clear()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._status = replace(self._status, running=True)
        self._thread = threading.Thread(target=self._run, name="sync-loop", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._publish(replace(self._status, running=False))

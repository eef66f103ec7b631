"""Kiosk-side sync: an HTTP client for the record server and a background sync loop.

Sync is push, then pull (pages until the server says there is no more). The store
(``SyncStore``) is the only state: events leave the outbox only after the server answered them,
and the pull cursor moves only after a page is stored, so a crash or kill at any moment loses
nothing and doubles nothing (the server answers ``duplicate`` for an event it already has).

HTTP: one ``requests.Session`` per client, explicit (connect, read) timeouts, retries by
urllib3's ``Retry`` mounted on the session (``SyncRetry``): only on connection errors, timeouts,
5xx and 429, every method (pushes are idempotent: the server answers ``duplicate`` for an event
id it has), exponential backoff with jitter, honouring ``Retry-After``; TLS verification on
unless configured off, optionally with a CA bundle.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from library_core.clock import Clock, SystemClock
from library_core.contract import CONTRACT_VERSION
from library_core.errors import SyncError
from library_core.observable import EventSource

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


class SyncStore(Protocol):
    """What the sync client needs from the kiosk's local store."""

    def pending_events(self, limit: int) -> list[dict[str, Any]]:
        """Envelopes waiting to be pushed: priority 1 first, then by seq."""
        ...

    def record_push_results(self, results: list[dict[str, Any]]) -> None:
        """Store the server's answer per event: {"event_id", "status", "detail"?, "rule"?}."""
        ...

    def pending_count(self) -> int: ...

    def last_sync_at(self) -> dt.datetime | None: ...

    def set_last_sync(self, when: dt.datetime) -> None: ...

    def pull_cursor(self) -> int: ...

    def apply_pulled_page(self, changes: list[dict[str, Any]], next_cursor: int, *,
                          at: dt.datetime | None = None) -> None:
        """Store one pulled page and move the cursor; a row it cannot store is set aside
        (stamped ``at``)."""
        ...

    def unreported_quarantine(self, limit: int = 500) -> list[dict[str, Any]]:
        """Pulled rows set aside that the server was not told about (push-body shape)."""
        ...

    def mark_quarantine_reported(self, reports: list[dict[str, Any]], *, at: dt.datetime) -> None:
        """The server took these reports."""
        ...


class SyncHttpError(SyncError):
    """The server answered with an error status (after retries, where retrying made sense)."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__("error.sync.http", f"HTTP {status}: {detail}", status=status)


class SyncOffline(SyncError):
    """The server could not be reached (connection refused, timeout, TLS failure)."""

    message_id = "error.sync.offline"


class SyncAuthError(SyncHttpError):
    """The kiosk token was refused (revoked, or this kiosk was never enrolled)."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = time.time() if now is None else now
    return max(0.0, min(when.timestamp() - current, MAX_RETRY_AFTER_S))


class SyncRetry(Retry):
    """urllib3's retry policy with the kiosk's waits and an injectable sleep.

    The wait before retry n (1, 2, ...) is ``min(backoff_max, backoff_factor * 2**(n-1))``
    times a jitter in [0.5, 1] (urllib3's own jitter only adds, and its first retry does not
    wait at all); a ``Retry-After`` header (seconds or an HTTP date) wins, capped at
    ``MAX_RETRY_AFTER_S``. ``sleep`` is how it waits (``time.sleep``; tests pass a recorder).
    """

    def __init__(self, *args: Any, sleep: Callable[[float], None] = time.sleep,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sleeper = sleep

    def new(self, **kwargs: Any) -> SyncRetry:
        fresh = super().new(**kwargs)
        fresh.sleeper = self.sleeper
        return fresh

    def get_backoff_time(self) -> float:
        failures = len(self.history)
        if failures == 0:
            return 0.0
        base = min(self.backoff_max, self.backoff_factor * float(1 << min(failures - 1, 16)))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        hinted = None
        if self.respect_retry_after_header and response is not None:
            hinted = self.get_retry_after(response)
        wait = hinted if hinted is not None else self.get_backoff_time()
        if response is not None:
            log.info("server answered %d; retry in %.2fs", response.status, wait)
        else:
            log.info("server unreachable; retry in %.2fs", wait)
        self.sleeper(wait)


class RecordServerClient:
    """Talks to one record server as one kiosk. Raises SyncOffline / SyncHttpError.

    Retries are urllib3's (``self.retry``, a ``SyncRetry`` on an ``HTTPAdapter`` mounted for
    http:// and https:// on the session, injected or not): ``retries`` retries after the first
    attempt, on connection errors, timeouts and ``RETRY_STATUSES`` only; after the last one a
    retried status comes back as that answer (SyncHttpError), a connection error as SyncOffline.
    """

    def __init__(self, base_url: str, kiosk_id: str, token: str = "", *,
                 verify: bool | str = True, connect_timeout_s: float = 3.0,
                 read_timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.5,
                 max_backoff_s: float = 8.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.kiosk_id = kiosk_id
        self.token = token
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = SyncRetry(
            total=retries, status_forcelist=RETRY_STATUSES, allowed_methods=None,
            backoff_factor=backoff_s, backoff_max=max_backoff_s, raise_on_status=False,
            respect_retry_after_header=True, sleep=sleep)
        self.session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=self.retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.verify = verify
        self.session.headers["User-Agent"] = f"library-kiosk/{kiosk_id}"

    @classmethod
    def from_settings(cls, server: Any, kiosk_id: str, token: str) -> RecordServerClient:
        """Build from ``config.settings.ServerSection`` (url, verify_tls, ca_bundle, timeouts)."""
        verify: bool | str = server.ca_bundle if server.ca_bundle else bool(server.verify_tls)
        return cls(server.url, kiosk_id, token, verify=verify,
                   connect_timeout_s=server.connect_timeout_s,
                   read_timeout_s=server.read_timeout_s)

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call (urllib3 retries it); returns the decoded JSON body."""
        url = f"{self.base_url}{path}"
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            resp = self.session.request(method, url, headers=headers, timeout=self.timeout,
                                        **kwargs)
        except (requests.ConnectionError, requests.Timeout) as err:
            raise SyncOffline("error.sync.offline", f"{type(err).__name__}") from err
        if resp.status_code < 400:
            try:
                return resp.json()
            except ValueError as err:
                raise SyncHttpError(resp.status_code, "response is not JSON") from err
        detail = _detail(resp)
        if resp.status_code in (401, 403):
            raise SyncAuthError(resp.status_code, detail)
        raise SyncHttpError(resp.status_code, detail)

    def enroll(self, code: str) -> str:
        body = self.request("POST", "/api/v1/kiosks/enroll",
                            json={"kiosk_id": self.kiosk_id, "code": code})
        self.token = str(body["token"])
        return self.token

    def push(self, events: list[dict[str, Any]],
             quarantined: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Push events, and the pulled rows this kiosk set aside (``quarantined``), if any."""
        request: dict[str, Any] = {"events": events}
        if quarantined:
            request["quarantined"] = quarantined
        body: dict[str, Any] = self.request(
            "POST", f"/api/v1/kiosks/{self.kiosk_id}/events", json=request)
        return body

    def pull(self, cursor: int, limit: int = 500) -> dict[str, Any]:
        body: dict[str, Any] = self.request(
            "GET", f"/api/v1/kiosks/{self.kiosk_id}/changes",
            params={"cursor": cursor, "limit": limit})
        return body


def _detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.reason or ""
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


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


@dataclass(frozen=True)
class SyncReport:
    pushed: int = 0
    applied: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    pulled: int = 0


class SyncEngine:
    """One sync round at a time: push every pending event, then pull every new change."""

    def __init__(self, store: SyncStore, client: RecordServerClient, *, clock: Clock | None = None,
                 batch_size: int = 100, page_size: int = 500, max_rounds: int = 1000) -> None:
        self.store = store
        self.client = client
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.page_size = page_size
        self.max_rounds = max_rounds
        self._lock = threading.Lock()

    def push_all(self) -> SyncReport:
        """Push batches until nothing is pending or the server stops taking them.

        The first push of a round also reports the pulled rows set aside since the last one
        (a push of reports alone when no event is pending).
        """
        counts = {"applied": 0, "duplicate": 0, "conflict": 0, "rejected": 0}
        pushed = 0
        reports = self.store.unreported_quarantine()
        for _ in range(self.max_rounds):
            batch = self.store.pending_events(self.batch_size)
            if not batch and not reports:
                break
            if reports:
                body = self.client.push(batch, quarantined=reports)
                self.store.mark_quarantine_reported(reports, at=self.clock.now())
                log.info("reported %d pulled rows set aside", len(reports))
                reports = []
                if not batch:
                    break
            else:
                body = self.client.push(batch)
            results = body.get("results", [])
            final = [r for r in results if not _is_gap(r)]
            if final:
                self.store.record_push_results(final)
            for r in final:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            pushed += len(final)
            if not final:
                expected = body.get("next_seq")
                raise SyncError("error.sync.gap",
                                f"server waits for seq {expected}; the outbox cannot supply it")
        return SyncReport(pushed=pushed, applied=counts["applied"], duplicates=counts["duplicate"],
                          conflicts=counts["conflict"], rejected=counts["rejected"])

    def pull_all(self) -> int:
        """Pull pages until the server has no more; each page is stored before the next."""
        pulled = 0
        for _ in range(self.max_rounds):
            cursor = self.store.pull_cursor()
            page = self.client.pull(cursor, self.page_size)
            version = page.get("contract_version", CONTRACT_VERSION)
            if version != CONTRACT_VERSION:
                raise SyncError("error.sync.contract",
                                f"server speaks contract {version!r}, this kiosk {CONTRACT_VERSION}")
            changes = page.get("changes", [])
            next_cursor = int(page.get("next_cursor", cursor))
            if changes or next_cursor != cursor:
                self.store.apply_pulled_page(changes, next_cursor, at=self.clock.now())
            pulled += len(changes)
            if not page.get("more"):
                break
        return pulled

    def sync_once(self) -> SyncReport:
        """Push, pull, push again (anything made meanwhile); then note the time."""
        with self._lock:
            first = self.push_all()
            pulled = self.pull_all()
            second = self.push_all()
            self.store.set_last_sync(self.clock.now())
        return SyncReport(
            pushed=first.pushed + second.pushed, applied=first.applied + second.applied,
            duplicates=first.duplicates + second.duplicates,
            conflicts=first.conflicts + second.conflicts,
            rejected=first.rejected + second.rejected, pulled=pulled)


def _is_gap(result: dict[str, Any]) -> bool:
    return result.get("status") == "rejected" and str(result.get("detail", "")).startswith("gap")


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

    def _run(self) -> None:
        delay = self.interval_s
        while not self._stop.is_set():
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

"""The kiosk's HTTP client for the record server: one session, explicit timeouts, retries.

One ``requests.Session`` per client, explicit (connect, read) timeouts, retries by
urllib3's ``Retry`` mounted on the session (``SyncRetry``): only on connection errors, timeouts,
5xx and 429, every method (pushes are idempotent: the server answers ``duplicate`` for an event
id it has), exponential backoff with jitter, honouring ``Retry-After``; TLS verification on
unless configured off (demo mode only), optionally against a CA file (``server.ca_file``) given
to every request, so ``REQUESTS_CA_BUNDLE`` cannot replace it. A server certificate that does
not verify is ``SyncCertificateError`` at once (no retry): nothing was sent.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from library_core.errors import NotFound, SyncError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


class SyncHttpError(SyncError):
    """The server answered with an error status (after retries, where retrying made sense)."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__("error.sync.http", f"HTTP {status}: {detail}", status=status)


class SyncOffline(SyncError):
    """The server could not be reached (connection refused, timeout, TLS failure)."""

    message_id = "error.sync.offline"


class SyncCertificateError(SyncOffline):
    """The server's TLS certificate did not verify (unknown CA, wrong host, expired): nothing
    was sent. Offline for the kiosk's rules; the status says ``error.sync.certificate``."""

    message_id = "error.sync.certificate"


def certificate_failure(err: BaseException | None) -> BaseException | None:
    """The certificate check failure ``err`` is or wraps (in args, reason, cause), or None."""
    seen: set[int] = set()
    todo: list[object] = [err]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError | ssl.CertificateError):
            return item
        if isinstance(item, MaxRetryError):
            todo.append(item.reason)
        todo.extend([*item.args, item.__cause__, item.__context__])
    return None


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

    def increment(self, method: str | None = None, url: str | None = None,
                  response: BaseHTTPResponse | None = None, error: Exception | None = None,
                  _pool: Any = None, _stacktrace: TracebackType | None = None) -> SyncRetry:
        """urllib3's, except that a certificate that did not verify is not retried."""
        if certificate_failure(error) is not None:
            raise MaxRetryError(_pool, url or "", error)
        return super().increment(method, url, response, error, _pool, _stacktrace)

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
        self.kiosk_no: int | None = None  # the server-assigned number, once enrolled
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = SyncRetry(
            total=retries, status_forcelist=RETRY_STATUSES, allowed_methods=None,
            backoff_factor=backoff_s, backoff_max=max_backoff_s, raise_on_status=False,
            respect_retry_after_header=True, sleep=sleep)
        self.session = session or requests.Session()
        adapter = HTTPAdapter(max_retries=self.retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.verify = verify
        self.session.verify = verify
        self.session.headers["User-Agent"] = f"library-kiosk/{kiosk_id}"

    @classmethod
    def from_settings(cls, server: Any, kiosk_id: str, token: str) -> RecordServerClient:
        """Build from ``config.settings.ServerSection`` (url, verify_tls, ca_file, timeouts)."""
        verify: bool | str = server.ca_file if server.ca_file else bool(server.verify_tls)
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
                                        verify=self.verify, **kwargs)
        except requests.exceptions.SSLError as err:
            failure = certificate_failure(err)
            if failure is not None:
                reason = str(getattr(failure, "verify_message", "") or failure)[:200]
                log.error("the record server's certificate did not verify: %s", reason)
                raise SyncCertificateError(detail=f"certificate: {reason}") from err
            raise SyncOffline("error.sync.offline", "SSLError") from err
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
        """Trade a one-time code for this kiosk's token; the number the server assigned to
        this kiosk is kept in ``kiosk_no`` (None from a server that predates numbering)."""
        body = self.request("POST", "/api/v1/kiosks/enroll",
                            json={"kiosk_id": self.kiosk_id, "code": code})
        self.token = str(body["token"])
        number = body.get("kiosk_no")
        self.kiosk_no = int(number) if number is not None else None
        return self.token

    def position(self) -> dict[str, Any]:
        """Where this kiosk stands on the server: kiosk_no, next_seq and the highest card
        serial, visit number and receipt number per day it has used."""
        body: dict[str, Any] = self.request("GET", f"/api/v1/kiosks/{self.kiosk_id}/position")
        return body

    def reserve_receipts(self, day: str, after: int) -> int:
        """Reserve the next block of ``day``'s receipt numbers above ``after`` (this kiosk's
        counter); returns the ceiling the server now holds for it (``receipt_blocks``)."""
        body = self.request("POST", f"/api/v1/kiosks/{self.kiosk_id}/receipt-blocks",
                            json={"day": day, "after": after})
        return int(body["ceiling"])

    def push(self, events: list[dict[str, Any]],
             quarantined: list[dict[str, Any]] | None = None,
             device_status: dict[str, Any] | None = None) -> dict[str, Any]:
        """Push events, the pulled rows this kiosk set aside (``quarantined``), if any, and
        this kiosk's device status (``library_core.contract.DeviceStatus``), if given."""
        request: dict[str, Any] = {"events": events}
        if quarantined:
            request["quarantined"] = quarantined
        if device_status is not None:
            request["device_status"] = device_status
        body: dict[str, Any] = self.request(
            "POST", f"/api/v1/kiosks/{self.kiosk_id}/events", json=request)
        return body

    def pull(self, cursor: int, limit: int = 500) -> dict[str, Any]:
        body: dict[str, Any] = self.request(
            "GET", f"/api/v1/kiosks/{self.kiosk_id}/changes",
            params={"cursor": cursor, "limit": limit})
        return body

    def verify_reader_pin(self, reader_id: str, id_number: str, pin: str) -> dict[str, Any]:
        """The server checks a reader's PIN (replacement): ``{"result": "ok" | "wrong" |
        "locked", "attempts_left": n, "minutes": n}``. Raises NotFound ``reader.not_found``
        (no such active reader with that ID number), SyncOffline, SyncHttpError."""
        try:
            body: dict[str, Any] = self.request(
                "POST", f"/api/v1/kiosks/{self.kiosk_id}/reader-pin",
                json={"reader_id": reader_id, "id_number": id_number, "pin": pin})
        except SyncHttpError as err:
            if err.status == 404:
                raise NotFound("reader.not_found", "the record server has no such active "
                                                   "reader") from err
            raise
        return body


    def open_staff_session(self, staff: str, pin: str) -> dict[str, Any]:
        """The server checks a staff log-in at this kiosk (docs/security.md 5.1): the session
        id and key, staff number, name, role, times and offline verifier. Raises SyncAuthError
        (401: refused, one answer for unknown, inactive, locked or wrong), SyncHttpError (429
        and others), SyncOffline."""
        body: dict[str, Any] = self.request(
            "POST", f"/api/v1/kiosks/{self.kiosk_id}/staff-sessions",
            json={"staff": staff, "pin": pin})
        return body


def _detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.reason or ""
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]

"""Sync client: retries, timeouts, Retry-After, gap handling, cursor discipline, loop status."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util.retry import Retry

from library_core.clock import FixedClock
from library_core.errors import SyncError
from server_client.sync import (
    RecordServerClient,
    SyncAuthError,
    SyncEngine,
    SyncHttpError,
    SyncLoop,
    SyncOffline,
    parse_retry_after,
)


class ScriptedAdapter(HTTPAdapter):
    """The client's own adapter and urllib3 ``Retry``, with a scripted socket underneath.

    Each attempt urllib3 makes (first try and every retry) takes the next scripted item:
    (status, body, headers), or an exception (``requests.ConnectionError`` stands for a refused
    connection: urllib3's ``NewConnectionError``). ``calls`` holds (request, send kwargs) per
    attempt.
    """

    def __init__(self, script: list[Any], retry: Retry) -> None:
        super().__init__(max_retries=retry)
        self.script = list(script)
        self.calls: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []
        self._sending: tuple[requests.PreparedRequest, dict[str, Any]] | None = None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self._sending = (request, kwargs)
        return super().send(request, **kwargs)

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: Any = None, cert: Any = None) -> Any:
        return _ScriptedPool(self, "records.test", 443)


class _ScriptedPool(HTTPSConnectionPool):
    def __init__(self, adapter: ScriptedAdapter, host: str, port: int) -> None:
        super().__init__(host, port)
        self.adapter = adapter

    def _make_request(self, conn: Any, method: str, url: str, *args: Any,  # type: ignore[override]
                      **kwargs: Any) -> HTTPResponse:
        assert self.adapter._sending is not None
        self.adapter.calls.append(self.adapter._sending)
        item = self.adapter.script.pop(0)
        if isinstance(item, requests.ConnectionError):
            raise NewConnectionError(conn, str(item))
        if isinstance(item, Exception):
            raise item
        status, body, headers = item
        return HTTPResponse(body=io.BytesIO(json.dumps(body).encode()), status=status,
                            headers={"Content-Type": "application/json", **headers},
                            preload_content=False, request_method=method, request_url=url)


def _client(script: list[Any], **kw: Any) -> tuple[RecordServerClient, ScriptedAdapter, list[float]]:
    session = requests.Session()
    sleeps: list[float] = []
    client = RecordServerClient("https://records.test", "K01", "kt_secret", session=session,
                                sleep=sleeps.append, connect_timeout_s=2, read_timeout_s=7,
                                **kw)
    adapter = ScriptedAdapter(script, client.retry)
    session.mount("https://", adapter)
    return client, adapter, sleeps


def test_retries_5xx_then_succeeds_with_explicit_timeouts() -> None:
    client, adapter, sleeps = _client([(503, {"detail": "busy"}, {}), (200, {"ok": 1}, {})])
    assert client.request("GET", "/x") == {"ok": 1}
    assert len(adapter.calls) == 2 and len(sleeps) == 1
    request, kwargs = adapter.calls[0]
    assert kwargs["timeout"] == (2, 7)
    assert kwargs["verify"] not in (False, None, "")  # on (True or the env CA bundle)
    assert request.headers["Authorization"] == "Bearer kt_secret"


def test_honours_retry_after_on_429() -> None:
    client, _adapter, sleeps = _client([(429, {"detail": "slow"}, {"Retry-After": "3"}),
                                        (200, {}, {})])
    client.request("GET", "/x")
    assert sleeps == [3.0]


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_no_retry_on_other_4xx(status: int) -> None:
    client, adapter, sleeps = _client([(status, {"detail": "bad"}, {})])
    with pytest.raises(SyncHttpError) as err:
        client.request("POST", "/x", json={})
    assert err.value.status == status and "bad" in err.value.detail
    assert len(adapter.calls) == 1 and sleeps == []


def test_refused_token_is_an_auth_error() -> None:
    client, _adapter, _sleeps = _client([(401, {"detail": "revoked"}, {})])
    with pytest.raises(SyncAuthError):
        client.request("GET", "/x")


def test_connection_errors_retry_with_backoff_then_offline() -> None:
    script = [requests.ConnectionError("refused")] * 4
    client, adapter, sleeps = _client(script, retries=3, backoff_s=1.0, max_backoff_s=3.0)
    with pytest.raises(SyncOffline):
        client.request("GET", "/x")
    assert len(adapter.calls) == 4
    # each wait is its base (1 s doubling, capped at 3 s) times a jitter in [0.5, 1]
    bases = [1.0, 2.0, 3.0]
    assert len(sleeps) == 3
    for wait, base in zip(sleeps, bases, strict=True):
        assert base * 0.5 <= wait <= base, (sleeps, bases)
    assert sleeps[2] > sleeps[0]  # the worst jitter still leaves the third wait longer


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999999])
def test_backoff_doubles_up_to_the_cap_at_any_jitter(jitter: float,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("server_client.sync.client.random.random", lambda: jitter)
    script = [requests.ConnectionError("refused")] * 5
    client, _adapter, sleeps = _client(script, retries=4, backoff_s=1.0, max_backoff_s=3.0)
    with pytest.raises(SyncOffline):
        client.request("GET", "/x")
    factor = 0.5 + jitter / 2
    assert sleeps == pytest.approx([1.0 * factor, 2.0 * factor, 3.0 * factor, 3.0 * factor])
    assert sleeps[0] < sleeps[1] < sleeps[2] == sleeps[3]


def test_retry_after_http_date_and_cap() -> None:
    now = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC).timestamp()
    assert parse_retry_after("Tue, 24 Nov 2026 02:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("100000") == 60.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_tls_settings_from_config() -> None:
    from config.settings import ServerSection

    client = RecordServerClient.from_settings(ServerSection(ca_file="/etc/ca.pem"), "K01", "t")
    assert client.session.verify == client.verify == "/etc/ca.pem"
    client = RecordServerClient.from_settings(ServerSection(), "K01", "t")
    assert client.session.verify is True
    assert client.timeout == (3.0, 10.0)


class MemoryStore:
    """In-memory SyncStore for unit tests."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = {e["event_id"]: dict(e, status="pending") for e in events}
        self.cursor = 0
        self.entities: dict[tuple[str, str], dict[str, Any]] = {}
        self.last: dt.datetime | None = None
        self.fail_apply = False

    def pending_events(self, limit: int) -> list[dict[str, Any]]:
        pend = [e for e in self.events.values() if e["status"] == "pending"]
        pend.sort(key=lambda e: (-e["priority"], e["seq"]))
        return [{k: v for k, v in e.items() if k != "status"} for e in pend[:limit]]

    def record_push_results(self, results: list[dict[str, Any]]) -> None:
        for r in results:
            self.events[r["event_id"]]["status"] = r["status"]

    def pending_count(self) -> int:
        return sum(1 for e in self.events.values() if e["status"] == "pending")

    def last_sync_at(self) -> dt.datetime | None:
        return self.last

    def set_last_sync(self, when: dt.datetime) -> None:
        self.last = when

    def pull_cursor(self) -> int:
        return self.cursor

    def apply_pulled_page(self, changes: list[dict[str, Any]], next_cursor: int, *,
                          at: dt.datetime | None = None) -> None:
        if self.fail_apply:
            raise OSError("disk full")
        for c in changes:
            self.entities[(c["entity"], c["id"])] = c["data"]
        self.cursor = next_cursor

    def unreported_quarantine(self, limit: int = 500) -> list[dict[str, Any]]:
        return []

    def mark_quarantine_reported(self, reports: list[dict[str, Any]], *, at: dt.datetime) -> None:
        raise AssertionError("nothing was set aside")


def _events(n: int) -> list[dict[str, Any]]:
    return [{"event_id": f"e{i}", "kiosk_id": "K01", "seq": i, "kind": "visit.opened",
             "occurred_at": "2026-11-24T10:00:00+08:00", "priority": 0, "payload": {}}
            for i in range(1, n + 1)]


class FakeClient:
    def __init__(self, pages: list[dict[str, Any]], gap_first: bool = False) -> None:
        self.pages = pages
        self.pushed: list[list[str]] = []
        self.gap_first = gap_first
        self.cursors: list[int] = []

    def push(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        self.pushed.append([e["event_id"] for e in events])
        if self.gap_first:
            self.gap_first = False
            return {"results": [{"event_id": e["event_id"], "status": "rejected",
                                 "detail": "gap: expected seq 1"} for e in events], "next_seq": 1}
        return {"results": [{"event_id": e["event_id"], "status": "applied"} for e in events],
                "next_seq": 99}

    def pull(self, cursor: int, limit: int = 500) -> dict[str, Any]:
        self.cursors.append(cursor)
        return self.pages.pop(0)


def test_engine_pushes_in_batches_and_pulls_every_page() -> None:
    store = MemoryStore(_events(5))
    pages = [{"changes": [{"seq": 1, "entity": "reader", "id": "r1", "data": {"x": 1}}],
              "next_cursor": 1, "more": True},
             {"changes": [{"seq": 2, "entity": "card", "id": "c1", "data": {}}],
              "next_cursor": 2, "more": False}]
    client = FakeClient(pages)
    clock = FixedClock(dt.datetime(2026, 11, 24, 10, 0))
    report = SyncEngine(store, client, clock=clock, batch_size=2).sync_once()  # type: ignore[arg-type]
    assert client.pushed == [["e1", "e2"], ["e3", "e4"], ["e5"]]
    assert report.applied == 5 and report.pulled == 2
    assert store.pending_count() == 0 and store.cursor == 2 and client.cursors == [0, 1]
    assert store.last == clock.now()


def test_gap_answers_stay_pending_and_surface_as_error() -> None:
    store = MemoryStore(_events(2))
    client = FakeClient([], gap_first=True)
    with pytest.raises(SyncError, match="seq 1"):
        SyncEngine(store, client).push_all()  # type: ignore[arg-type]
    assert store.pending_count() == 2


def test_cursor_does_not_move_when_a_page_cannot_be_stored() -> None:
    store = MemoryStore([])
    store.fail_apply = True
    client = FakeClient([{"changes": [{"seq": 1, "entity": "reader", "id": "r", "data": {}}],
                          "next_cursor": 1, "more": False}])
    loop = SyncLoop(SyncEngine(store, client))  # type: ignore[arg-type]
    status = loop.run_once()
    assert store.cursor == 0 and "disk full" in status.last_error and store.last is None


def _page(seq: int, more: bool) -> dict[str, Any]:
    return {"changes": [{"seq": seq, "entity": "item", "id": f"i{seq}", "data": {"n": seq}}],
            "next_cursor": seq, "more": more}


def test_the_next_page_is_fetched_while_a_page_is_stored() -> None:
    fetching_ahead = threading.Event()

    class Client(FakeClient):
        def pull(self, cursor: int, limit: int = 500) -> dict[str, Any]:
            if self.cursors:
                fetching_ahead.set()
            return super().pull(cursor, limit)

    class Store(MemoryStore):
        def __init__(self) -> None:
            super().__init__([])
            self.overlapped: list[bool] = []

        def apply_pulled_page(self, changes: list[dict[str, Any]], next_cursor: int, *,
                              at: dt.datetime | None = None) -> None:
            if next_cursor == 1:  # the first page: the second is asked for meanwhile
                self.overlapped.append(fetching_ahead.wait(timeout=10))
            super().apply_pulled_page(changes, next_cursor, at=at)

    store = Store()
    client = Client([_page(1, True), _page(2, False)])
    assert SyncEngine(store, client).pull_all() == 2  # type: ignore[arg-type]
    assert store.overlapped == [True] and client.cursors == [0, 1] and store.cursor == 2


def test_a_page_fetched_ahead_of_a_failed_store_is_asked_for_again() -> None:
    class Store(MemoryStore):
        fail_at: int | None = 2  # the first store of page 2 fails

        def apply_pulled_page(self, changes: list[dict[str, Any]], next_cursor: int, *,
                              at: dt.datetime | None = None) -> None:
            if next_cursor == self.fail_at:
                self.fail_at = None
                raise OSError("disk full")
            super().apply_pulled_page(changes, next_cursor, at=at)

    store = Store([])
    client = FakeClient([_page(1, True), _page(2, True), _page(3, False)])
    engine = SyncEngine(store, client)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="disk full"):
        engine.pull_all()
    assert store.cursor == 1 and set(store.entities) == {("item", "i1")}
    client.pages = [_page(2, True), _page(3, False)]
    assert engine.pull_all() == 2
    assert store.cursor == 3 and client.cursors[-2:] == [1, 2]
    assert [store.entities[("item", f"i{n}")] for n in (1, 2, 3)] == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_loop_status_offline_then_online() -> None:
    store = MemoryStore(_events(1))

    class Down(FakeClient):
        def push(self, events: list[dict[str, Any]]) -> dict[str, Any]:
            raise SyncOffline("error.sync.offline", "refused")

    loop = SyncLoop(SyncEngine(store, Down([])))  # type: ignore[arg-type]
    seen = []
    loop.subscribe(seen.append)
    status = loop.run_once()
    assert not status.online and status.pending == 1 and status.last_error
    loop.engine.client = FakeClient([{"changes": [], "next_cursor": 0, "more": False}])  # type: ignore[assignment]
    status = loop.run_once()
    assert status.online and status.pending == 0 and status.last_error == ""
    assert status.last_sync_at is not None
    assert len(seen) == 3


def test_retries_are_urllib3_retry_mounted_on_the_session() -> None:
    client = RecordServerClient("https://records.test", "K01", "t", retries=5)
    for url in ("https://records.test/x", "http://records.test/x"):
        adapter = client.session.get_adapter(url)
        assert isinstance(adapter, HTTPAdapter) and adapter.max_retries is client.retry
    retry = client.retry
    assert isinstance(retry, Retry) and retry.total == 5
    assert set(retry.status_forcelist or ()) == {429, 500, 502, 503, 504}
    assert retry.allowed_methods is None  # POST too: pushes are idempotent by event id
    assert retry.respect_retry_after_header and not retry.raise_on_status

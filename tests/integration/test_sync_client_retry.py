"""The sync client's urllib3 retries against real sockets on loopback: a server that answers
503 (with and without Retry-After) and then 200, and a port where nothing listens."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server_client.sync import RecordServerClient, SyncHttpError, SyncOffline


class _Scripted(ThreadingHTTPServer):
    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = answers
        self.seen: list[tuple[str, bytes]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Scripted

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append((self.command, self.rfile.read(length)))
        status, headers = self.server.answers.pop(0)
        body = json.dumps({"detail": "busy"} if status >= 400 else {"ok": True}).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture
def scripted() -> Iterator[_Scripted]:
    server = _Scripted([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _client(url: str, sleeps: list[float], retries: int = 3) -> RecordServerClient:
    return RecordServerClient(url, "K01", "kt", retries=retries, backoff_s=0.01,
                              max_backoff_s=0.02, connect_timeout_s=10, read_timeout_s=30,
                              sleep=sleeps.append)


def test_a_push_is_retried_after_503_and_retry_after_is_honoured(scripted: _Scripted) -> None:
    scripted.answers += [(503, {"Retry-After": "0"}), (502, {}), (200, {})]
    sleeps: list[float] = []
    client = _client(f"http://127.0.0.1:{scripted.server_port}", sleeps)
    assert client.push([{"event_id": "e1"}]) == {"ok": True}
    assert [m for m, _ in scripted.seen] == ["POST"] * 3
    assert len({body for _, body in scripted.seen}) == 1  # the same idempotent batch each time
    assert sleeps[0] == 0.0 and 0.01 <= sleeps[1] <= 0.02  # 2nd wait: 0.01 s doubled, jittered


def test_a_retried_status_after_the_last_retry_is_that_answer(scripted: _Scripted) -> None:
    scripted.answers += [(503, {})] * 3
    sleeps: list[float] = []
    with pytest.raises(SyncHttpError) as info:
        _client(f"http://127.0.0.1:{scripted.server_port}", sleeps, retries=2).request("GET", "/x")
    assert info.value.status == 503 and "busy" in info.value.detail
    assert len(scripted.seen) == 3 and len(sleeps) == 2


def test_a_bad_request_is_not_retried(scripted: _Scripted) -> None:
    scripted.answers += [(422, {})]
    with pytest.raises(SyncHttpError):
        _client(f"http://127.0.0.1:{scripted.server_port}", []).push([])
    assert len(scripted.seen) == 1


def test_nothing_listening_is_offline_after_the_retries() -> None:
    with socket.socket() as sock:  # held bound, never listening: every connect is refused
        sock.bind(("127.0.0.1", 0))  # (freed again, another process could take the port)
        port = sock.getsockname()[1]
        sleeps: list[float] = []
        with pytest.raises(SyncOffline):
            _client(f"http://127.0.0.1:{port}", sleeps, retries=2).request("GET", "/x")
    assert len(sleeps) == 2

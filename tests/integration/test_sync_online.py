""""Online" is the last push and pull accepted, not "the server answered": a sequence gap and a
5xx after retries leave the kiosk offline (so the offline payment limit stays on), a refused
token marks it revoked; a clean round is online again. A real record server process, and a
loopback HTTP server that answers 500 to everything."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.services.ports import StatusConnectivity
from server_client.store import Store
from server_client.sync import RecordServerClient, SyncEngine, SyncLoop
from tests.support.server_process import server_factory_fixture  # noqa: F401
from tests.support.services import make_env


def _loop(store: Store, url: str, token: str) -> SyncLoop:
    client = RecordServerClient(url, "K01", token, retries=1, backoff_s=0.01, max_backoff_s=0.02)
    return SyncLoop(SyncEngine(store, client))


@pytest.fixture
def always_500() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _fail(self) -> None:
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"detail": "boom"}')

        do_GET = do_POST = _fail  # noqa: N815

        def log_message(self, *_a: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_5xx_after_retries_is_not_online(tmp_path: Path, always_500: str) -> None:
    env = make_env(tmp_path / "k.sqlite3")
    env.new_card(1)
    loop = _loop(env.store, always_500, "token")
    status = loop.run_once()
    assert not status.online and status.state == "refused" and "500" in status.last_error
    assert not StatusConnectivity(lambda: loop.status).is_online()
    assert status.pending == env.store.pending_count() > 0


def test_gap_and_revocation_are_not_online(tmp_path: Path, server_factory: Any) -> None:  # noqa: F811
    server = server_factory()
    server.cli("migrate")
    server.start()
    token = server.enroll("K01")
    env = make_env(tmp_path / "k.sqlite3")
    env.new_card(1)
    loop = _loop(env.store, server.url, token)
    assert loop.run_once().online and loop.status.state == "online"

    # a sequence gap: the server waits for an event this outbox no longer holds
    env.new_card(2)
    first = env.store.read_one("SELECT min(seq) AS s FROM outbox WHERE status = 'pending'")["s"]
    with env.store.transaction() as tx:
        tx.execute("DELETE FROM outbox WHERE seq = ?", (first,))
    status = loop.run_once()
    assert not status.online and status.state == "refused" and "gap" in status.last_error
    assert not StatusConnectivity(lambda: loop.status).is_online()

    # revoked: 401, out of service
    server.cli("revoke-kiosk", "--kiosk-id", "K01")
    status = loop.run_once()
    assert not status.online and status.revoked and "401" in status.last_error
    probe = StatusConnectivity(lambda: loop.status)
    assert not probe.is_online() and probe.out_of_service()

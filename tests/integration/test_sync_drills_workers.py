"""The outage drill against two server worker processes on PostgreSQL (issue 11 point 7):
the kiosk's real sync loop and a second client resending the same outbox at the same time (a
retry racing its original, on other connections and so other workers): every event is applied
exactly once, none lost, the money totals match."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server_client.store import Store
from server_client.sync import SyncEngine, SyncLoop
from tests.integration.test_sync_drills import _client, assert_server_holds, make_transactions
from tests.support.postgres import PostgresCluster, postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    server_factory_fixture,
)


def _envelopes(store: Store) -> list[dict[str, Any]]:
    rows = store.read("SELECT event_id, seq, kind, occurred_at, priority, payload FROM outbox"
                      " ORDER BY seq")
    return [{"event_id": r["event_id"], "kiosk_id": "K01", "seq": r["seq"], "kind": r["kind"],
             "occurred_at": r["occurred_at"], "priority": r["priority"],
             "payload": json.loads(r["payload"])} for r in rows]


def test_outage_drill_on_two_workers_is_exactly_once(
        postgres_cluster: PostgresCluster,  # noqa: F811
        server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:  # noqa: F811
    server = server_factory(postgres_cluster.create_database(), serve_args=("--workers", "2"))
    server.cli("migrate")
    server.create_staff("S0001", role="supervisor")
    server.start()
    token = server.enroll("K01")
    server.terminate()
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id="K01")
    exp = make_transactions(store, 1000)
    envelopes = _envelopes(store)
    assert len(envelopes) == exp.events

    loop = SyncLoop(SyncEngine(store, _client(server, token, retries=1)), interval_s=0.1)
    offline = loop.run_once()
    assert not offline.online and offline.pending == exp.events

    server.start()
    statuses: list[str] = []
    problems: list[str] = []

    def resend() -> None:  # the same batches again, each on a new connection
        try:
            for start in range(0, len(envelopes), 100):
                results = _client(server, token).push(envelopes[start:start + 100])["results"]
                statuses.extend(r["status"] + ":" + (r.get("detail") or "") for r in results)
        except Exception as err:  # noqa: BLE001 - reported below
            problems.append(repr(err))

    racer = threading.Thread(target=resend)
    racer.start()
    online = loop.run_once()
    racer.join(timeout=300)
    assert not racer.is_alive() and problems == []
    assert online.online and online.pending == 0 and online.last_error == ""
    # the racing resend only ever hears applied or duplicate: never a gap or a reused seq
    assert {s.split(":")[0] for s in statuses} <= {"applied", "duplicate"}, set(statuses)
    assert len(statuses) == exp.events
    assert_server_holds(server, exp)  # every event applied once, none lost, money matches

    # and everything once more, after the race: all duplicates, nothing changes
    for start in range(0, len(envelopes), 250):
        results = _client(server, token).push(envelopes[start:start + 250])["results"]
        assert {r["status"] for r in results} == {"duplicate"}
    assert_server_holds(server, exp)
    store.close()

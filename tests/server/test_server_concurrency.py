"""Two kiosks register the same people at the same moment, against the real server process on
PostgreSQL (batches of different kiosks apply concurrently there): the database keeps exactly one
active reader per ID number, the other registration is answered as the named conflict
``same_id_number_merges_into_first_reader`` and its card follows the kept reader; no 5xx, even
when the two batches take the same ID numbers in opposite orders (deadlocks are retried)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import create_engine, text

from tests.support.postgres import PostgresCluster, postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    KioskEvents,
    ServerProcess,
    resident_id,
    server_factory_fixture,
)

RULE = "same_id_number_merges_into_first_reader"
ROUNDS = 30
PEOPLE_PER_ROUND = 3


def test_same_id_number_from_two_kiosks_at_once_keeps_one_active_reader(
        postgres_cluster: PostgresCluster,  # noqa: F811
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    url = postgres_cluster.create_database()
    server = server_factory(url)
    server.cli("migrate")
    server.start()
    kiosks = {k: (server.enroll(k), KioskEvents(k)) for k in ("K01", "K02")}
    statuses: list[int] = []
    results: dict[str, dict[str, Any]] = {}  # reader_id -> result of its reader.registered
    problems: list[str] = []

    def push(kiosk_id: str, events: list[dict[str, Any]], barrier: threading.Barrier) -> None:
        token = kiosks[kiosk_id][0]
        with requests.Session() as http:
            barrier.wait(timeout=30)
            resp = http.post(f"{server.url}/api/v1/kiosks/{kiosk_id}/events", timeout=60,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"events": events})
        statuses.append(resp.status_code)
        if resp.status_code != 200:
            problems.append(f"{kiosk_id}: {resp.status_code} {resp.text[:300]}")
            return
        for env, res in zip(events, resp.json()["results"], strict=True):
            if env["kind"] == "reader.registered":
                results[env["payload"]["reader_id"]] = res
            elif res["status"] != "applied":
                problems.append(f"{env['kind']} {res}")

    serials: list[int] = []
    for rnd in range(ROUNDS):
        people = [1000 + rnd * PEOPLE_PER_ROUND + i for i in range(PEOPLE_PER_ROUND)]
        serials += people
        batches: dict[str, list[dict[str, Any]]] = {}
        for n, (kiosk_id, (_token, k)) in enumerate(kiosks.items()):
            order = people if n == 0 else list(reversed(people))  # opposite orders: deadlocks
            batches[kiosk_id] = [
                e for serial in order
                for e in k.new_reader(f"{kiosk_id}-r{serial}", serial,
                                      k.card(serial * 10 + n))]
        barrier = threading.Barrier(len(batches))
        threads = [threading.Thread(target=push, args=(kid, evs, barrier))
                   for kid, evs in batches.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)

    assert problems == []
    assert statuses == [200] * (2 * ROUNDS)
    for serial in serials:
        pair = [results[f"{k}-r{serial}"] for k in kiosks]
        assert sorted(r["status"] for r in pair) == ["applied", "conflict"], pair
        assert [r.get("rule") for r in pair if r["status"] == "conflict"] == [RULE]

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            active = dict(conn.execute(text(
                "SELECT id_number, COUNT(*) FROM readers WHERE status = 'active'"
                " AND merged_into IS NULL GROUP BY id_number")).all())
            assert active == {resident_id(s): 1 for s in serials}
            merged = conn.execute(text(
                "SELECT r.reader_id, r.merged_into, k.status FROM readers r"
                " JOIN readers k ON k.reader_id = r.merged_into")).all()
            assert len(merged) == len(serials)
            assert all(row.status == "active" for row in merged)
            conflicts = conn.execute(text(
                "SELECT COUNT(*) FROM conflicts WHERE rule = :rule"), {"rule": RULE}).scalar_one()
            assert conflicts == len(serials)
            # both cards of each person belong to the one active reader
            owners = conn.execute(text(
                "SELECT r.id_number, COUNT(DISTINCT c.reader_id), COUNT(*) FROM cards c"
                " JOIN readers r ON r.reader_id = c.reader_id GROUP BY r.id_number")).all()
            assert {o[0]: (o[1], o[2]) for o in owners} == {resident_id(s): (1, 2) for s in serials}
    finally:
        engine.dispose()

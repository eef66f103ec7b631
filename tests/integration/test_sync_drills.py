"""Kiosk sync client against the real server process: outage drill, server killed in the middle
of a push, kiosk process killed in the middle of a sync. Nothing lost, nothing doubled.

The kiosk side is the real local store (server_client.store.Store): each transaction writes its
outbox events in one store transaction through ``Tx.emit``, as the kiosk services do; the
transactions themselves are generated here (not through kiosk.services), so the drill controls
their mix and the expected counts and money totals exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from library_core.clock import CHINA_TZ
from library_core.codes import make_card_no
from library_core.rules import card_fee_id
from server_client.store import Store
from server_client.sync import RecordServerClient, SyncEngine, SyncLoop, SyncOffline
from tests.support import paused_server as paused
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    REPO,
    ServerProcess,
    db_url_fixture,
    reader_pin_hash,
    resident_id,
    server_factory_fixture,
    server_fixture,
)

DAY = dt.datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ)


@dataclass
class Expected:
    events: int = 0
    readers: int = 0
    cards: int = 0
    visits: int = 0
    fees: int = 0
    payments: int = 0
    paid: int = 0
    readers_ids: list[tuple[str, str]] = field(default_factory=list)


def make_transactions(store: Store, count: int, *, kiosk: str = "K01", start: int = 0) -> Expected:
    """``count`` kiosk transactions, each one store transaction with its outbox events."""
    exp = Expected()
    for i in range(start, start + count):
        at = DAY + dt.timedelta(seconds=i)
        with store.transaction() as tx:
            kind = i % 4
            if kind == 0 or not exp.readers_ids:
                rid = f"{kiosk}-r{i}"
                card = make_card_no(int(kiosk.lstrip("K")) * 10**8 + 100000 + i)  # its range
                # as the kiosk's new card emits them: the adult's deposit and card fee under
                # rules.card_fee_id, paid together, then the card (the server makes it only then)
                deposit, fee = card_fee_id(kiosk, card, "deposit"), card_fee_id(kiosk, card, "card")
                tx.emit("reader.registered", {
                    "reader_id": rid, "name": f"读者{i}", "id_number": resident_id(100000 + i),
                    "phone": f"139{i:08d}", "category": "adult", "pin_hash": reader_pin_hash(),
                    "registered_at": at.isoformat()}, occurred_at=at)
                tx.emit("fee.assessed", {"fee_id": deposit, "reader_id": rid, "kind": "deposit",
                                         "amount": 10000, "description": ""}, occurred_at=at)
                tx.emit("fee.assessed", {"fee_id": fee, "reader_id": rid, "kind": "card",
                                         "amount": 1000, "description": "card"}, occurred_at=at)
                tx.emit("payment.recorded", {
                    "payment_id": f"{kiosk}-pay-{i}", "reader_id": rid,
                    "receipt_no": tx.next_receipt_no(at.date()), "method": "wechat",
                    "amount": 11000, "allocations": [{"fee_id": deposit, "amount": 10000},
                                                     {"fee_id": fee, "amount": 1000}]},
                    occurred_at=at)
                tx.emit("card.issued", {"card_no": card, "reader_id": rid, "uid": f"{i:08X}",
                                        "generation": 1, "expires_on": "2029-11-24"}, occurred_at=at)
                exp.readers_ids.append((rid, card))
                exp.events += 5
                exp.readers += 1
                exp.cards += 1
                exp.fees += 2
                exp.payments += 1
                exp.paid += 11000
            elif kind in (1, 3):
                tx.emit("visit.opened", {
                    "visit_id": f"{kiosk}-V{i:06d}", "name": "访客", "phone": "13900000000",
                    "purpose": "reading", "host_department": "reading room",
                    "expires_at": (DAY + dt.timedelta(hours=11)).isoformat()}, occurred_at=at)
                exp.events += 1
                exp.visits += 1
            else:
                rid, _card = exp.readers_ids[-1]
                amount = 10 + i % 90
                fee = f"{kiosk}-fine-{i}"
                tx.emit("fee.assessed", {"fee_id": fee, "reader_id": rid, "kind": "overdue",
                                         "amount": amount, "description": "overdue"},
                        occurred_at=at)
                tx.emit("payment.recorded", {
                    "payment_id": f"{kiosk}-pay-{i}", "reader_id": rid,
                    "receipt_no": tx.next_receipt_no(at.date()), "method": "alipay",
                    "amount": amount, "allocations": [{"fee_id": fee, "amount": amount}]},
                    occurred_at=at)
                exp.events += 2
                exp.fees += 1
                exp.payments += 1
                exp.paid += amount
    return exp


def assert_server_holds(server: ServerProcess, exp: Expected) -> None:
    staff = server.staff_token("S0001")
    summary = server.get("/api/v1/summary", staff).json()
    assert summary["events"] == {"applied": exp.events}
    assert summary["readers"] == exp.readers
    assert summary["cards"] == exp.cards
    assert summary["visits"] == exp.visits
    assert summary["fees"] == exp.fees
    assert summary["payments"]["payment"] == {"count": exp.payments, "amount": exp.paid}
    assert summary["fees_paid"] == exp.paid
    assert summary["conflicts"] == 0


def _client(server: ServerProcess, token: str, **kw: object) -> RecordServerClient:
    return RecordServerClient(server.url, "K01", token, connect_timeout_s=2, read_timeout_s=30,
                              backoff_s=0.05, max_backoff_s=0.2, **kw)  # type: ignore[arg-type]


def test_outage_drill_1000_transactions(server: ServerProcess, tmp_path: Path) -> None:
    token = server.enroll("K01")
    server.terminate()
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id="K01")
    exp = make_transactions(store, 1000)
    assert store.pending_count() == exp.events

    loop = SyncLoop(SyncEngine(store, _client(server, token, retries=1)), interval_s=0.1)
    offline = loop.run_once()
    assert not offline.online and offline.pending == exp.events
    assert offline.last_error and offline.last_sync_at is None

    server.start()
    online = loop.run_once()
    assert online.online and online.pending == 0 and online.last_error == ""
    assert online.last_sync_at is not None
    assert_server_holds(server, exp)
    # the kiosk pulled the replica: readers and the fee schedule are in its store
    assert store.pulled_fee_schedule() is not None
    assert store.count("readers") == exp.readers

    # sending everything again changes nothing: every event comes back as duplicate
    client = _client(server, token)
    rows = store.read("SELECT event_id, seq, kind, occurred_at, priority, payload FROM outbox"
                      " ORDER BY seq")
    assert len(rows) == exp.events
    envelopes = [{"event_id": r["event_id"], "kiosk_id": "K01", "seq": r["seq"],
                  "kind": r["kind"], "occurred_at": r["occurred_at"], "priority": r["priority"],
                  "payload": json.loads(r["payload"])} for r in rows]
    for start in range(0, len(envelopes), 250):
        results = client.push(envelopes[start:start + 250])["results"]
        assert {r["status"] for r in results} == {"duplicate"}
    assert_server_holds(server, exp)
    store.close()


def paused_server(server_factory: Callable[..., ServerProcess], db_url: str, folder: Path,
                  at: int) -> ServerProcess:
    """A started server (staff S0001) whose ``at``-th push stops inside its transaction."""
    folder.mkdir()
    srv = server_factory(db_url, entry=paused.ENTRY,
                         env={paused.ENV_DIR: str(folder), paused.ENV_AT: str(at)})
    srv.cli("migrate")
    srv.create_staff("S0001", role="supervisor")
    return srv.start()


def wait_inside(folder: Path, *, still_running: Callable[[], bool]) -> dict[str, Any]:
    """The pause marker once the paused push is inside its transaction."""
    marker = folder / paused.INSIDE
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert still_running(), "the sync finished before the paused push"
        assert time.monotonic() < deadline, "the paused push never came"
        time.sleep(0.01)
    data: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
    return data


def pending_seqs(store: Store) -> set[int]:
    return {int(r["seq"]) for r in store.read("SELECT seq FROM outbox WHERE status = 'pending'")}


def test_server_killed_in_the_middle_of_a_push(
    server_factory: Callable[..., ServerProcess], db_url: str, tmp_path: Path
) -> None:
    pause = tmp_path / "pause"
    server = paused_server(server_factory, db_url, pause, at=40)
    token = server.enroll("K01")
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id="K01")
    exp = make_transactions(store, 1200)
    engine = SyncEngine(store, _client(server, token, retries=0), batch_size=20)
    errors: list[BaseException] = []

    def push() -> None:
        try:
            engine.push_all()
        except BaseException as err:  # noqa: BLE001 - collected for the assertion below
            errors.append(err)

    worker = threading.Thread(target=push)
    worker.start()
    marker = wait_inside(pause, still_running=worker.is_alive)
    assert server.proc is not None and marker["pid"] == server.proc.pid
    server.kill()
    worker.join(60)
    # the kill landed inside the push: the server never left its pause, never answered
    assert not (pause / paused.LEFT).exists()
    assert errors and isinstance(errors[0], SyncOffline), errors
    assert marker["push"] == 40 and marker["count"] == 20
    left = store.pending_count()
    assert left == exp.events - 39 * 20  # 39 batches answered and marked, the 40th not
    assert set(marker["seqs"]) <= pending_seqs(store)

    server.start()  # same pause folder: the pause has fired, this server passes through
    staff = server.staff_token("S0001")
    summary = server.get("/api/v1/summary", staff).json()
    assert summary["events"] == {"applied": 39 * 20}  # the killed batch rolled back whole
    SyncEngine(store, _client(server, token)).sync_once()
    assert store.pending_count() == 0
    assert_server_holds(server, exp)
    store.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_pause_variables_do_nothing_on_record_server_serve(
    server_factory: Callable[..., ServerProcess], db_url: str, tmp_path: Path
) -> None:
    """Only the test entry arms the pause: ``record-server serve`` ignores its variables."""
    pause = tmp_path / "pause"
    pause.mkdir()
    server = server_factory(db_url, env={paused.ENV_DIR: str(pause), paused.ENV_AT: "1"})
    server.cli("migrate")
    server.create_staff("S0001", role="supervisor")
    server.start()
    token = server.enroll("K01")
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id="K01")
    exp = make_transactions(store, 8)
    SyncEngine(store, _client(server, token), batch_size=5).sync_once()
    assert store.pending_count() == 0
    assert list(pause.iterdir()) == []
    assert_server_holds(server, exp)
    store.close()


KIOSK_SCRIPT = textwrap.dedent("""
    import sys
    from server_client.store import Store
    from server_client.sync import RecordServerClient, SyncEngine
    path, url, token = sys.argv[1:4]
    store = Store.open(path, kiosk_id="K01")
    client = RecordServerClient(url, "K01", token, read_timeout_s=30)
    SyncEngine(store, client, batch_size=int(sys.argv[4])).sync_once()
    store.close()
""")


def test_kiosk_killed_in_the_middle_of_a_sync(
    server_factory: Callable[..., ServerProcess], db_url: str, tmp_path: Path
) -> None:
    pause = tmp_path / "pause"
    server = paused_server(server_factory, db_url, pause, at=80)
    token = server.enroll("K01")
    path = tmp_path / "kiosk.sqlite3"
    store = Store.open(path, kiosk_id="K01")
    exp = make_transactions(store, 1200)
    store.close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kiosk = subprocess.Popen([sys.executable, "-c", KIOSK_SCRIPT, str(path), server.url, token,
                              "10"], cwd=REPO, env=env)
    try:
        marker = wait_inside(pause, still_running=lambda: kiosk.poll() is None)
        kiosk.send_signal(signal.SIGKILL)  # its push is sent and not yet answered
        kiosk.wait(10)
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
            kiosk.wait(10)
    assert not (pause / paused.LEFT).exists()  # the server was still inside that push
    assert marker["push"] == 80 and marker["count"] == 10
    store = Store.open(path, kiosk_id="K01")
    assert store.pending_count() == exp.events - 79 * 10
    assert set(marker["seqs"]) <= pending_seqs(store)
    store.close()

    (pause / paused.RELEASE).touch()  # the server commits the batch the dead kiosk sent
    again = subprocess.run([sys.executable, "-c", KIOSK_SCRIPT, str(path), server.url, token,
                            "100"], cwd=REPO, env=env, timeout=300)
    assert again.returncode == 0
    assert (pause / paused.LEFT).exists()
    store = Store.open(path, kiosk_id="K01")
    assert store.pending_count() == 0
    statuses = dict(store.read("SELECT status, count(*) FROM outbox GROUP BY status"))
    duplicates = {int(r["seq"]) for r in store.read(
        "SELECT seq FROM outbox WHERE status = 'duplicate'")}
    store.close()
    # exactly the batch the killed kiosk had sent came back as duplicate, applied once
    assert duplicates == set(marker["seqs"])
    assert statuses == {"applied": exp.events - 10, "duplicate": 10}
    assert_server_holds(server, exp)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sync_loop_reports_status_in_background(server: ServerProcess, tmp_path: Path) -> None:
    token = server.enroll("K01")
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id="K01")
    exp = make_transactions(store, 20)
    seen = []
    done = threading.Event()
    loop = SyncLoop(SyncEngine(store, _client(server, token)), interval_s=0.05)

    def listener(status: object) -> None:
        seen.append(status)
        if getattr(status, "online", False) and getattr(status, "pending", 1) == 0:
            done.set()

    loop.subscribe(listener)
    loop.start()
    try:
        assert done.wait(60)
    finally:
        loop.stop()
    assert seen[0].pending == exp.events
    assert loop.status.online and loop.status.pending == 0 and not loop.status.running
    store.close()

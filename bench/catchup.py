"""4. Catch-up: an offline kiosk's busy day, and a new kiosk's replica.

a) A kiosk's store holds 10,000 queued outbox events (new-reader transactions) made while the
   server was down. Measured: from the server answering /healthz again to ``SyncEngine.sync_once``
   done (every event pushed in batches of 100 and answered applied, every resulting change pulled
   and stored), target <= 10 s. Baseline: a bare requests loop pushing 10,000 other events in
   the same batches to the same server and pulling the same change pages, storing nothing.
b) A new kiosk (empty store) pulls a replica of 100,000 readers and 500,000 items (600,000
   changes) through ``SyncEngine.pull_all`` (pages of 1,000), target <= 60 s. Baseline: a bare
   requests loop fetching the same pages and decoding the JSON, storing nothing.
Server: a real record-server process on SQLite on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import requests

from bench.common import RESULTS_DIR, Result, count
from bench.dataset import server_replica
from bench.events import KioskStream, batches
from bench.server import enroll, running_server, sqlite_url
from server_client.store import Store
from server_client.sync import RecordServerClient, SyncEngine

QUEUED = 10_000
READERS, ITEMS = 100_000, 500_000
PAGE = 1000
PUSH_TARGET_S, PULL_TARGET_S = 10.0, 60.0
TIME_LIMIT_S = 240.0


def queue_events(store: Store, kiosk_id: str, count: int) -> None:
    """Put ``count`` pending events in the store's outbox, as a day offline would."""
    envs = KioskStream(kiosk_id, 70_000_000).events(count)
    with store.transaction() as tx:
        tx.conn.executemany(
            "INSERT INTO outbox (event_id, seq, kind, occurred_at, priority, payload)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(e["event_id"], e["seq"], e["kind"], e["occurred_at"], e["priority"],
              json.dumps(e["payload"], ensure_ascii=False, sort_keys=True)) for e in envs])
        tx.execute("INSERT INTO counters (name, value) VALUES ('outbox_seq', ?)", (count,))


def bare_pull(url: str, kiosk: str, token: str, cursor: int = 0) -> int:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    pulled = 0
    deadline = time.monotonic() + TIME_LIMIT_S
    while time.monotonic() < deadline:
        resp = s.get(f"{url}/api/v1/kiosks/{kiosk}/changes",
                     params={"cursor": cursor, "limit": PAGE}, timeout=60)
        resp.raise_for_status()
        page = resp.json()
        pulled += len(page["changes"])
        cursor = page["next_cursor"]
        if not page["more"]:
            break
    s.close()
    return pulled


def bare_push(url: str, kiosk: str, token: str, count: int) -> int:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    applied = 0
    for batch in batches(KioskStream(kiosk, 80_000_000).events(count), 100):
        resp = s.post(f"{url}/api/v1/kiosks/{kiosk}/events", json={"events": batch}, timeout=60)
        resp.raise_for_status()
        applied += sum(r["status"] == "applied" for r in resp.json()["results"])
    s.close()
    return applied


def offline_day(root: Path, queued: int = QUEUED) -> Result:
    url = sqlite_url(root)
    tokens = enroll(url, ["K201", "K202"])
    store = Store.open(root / "kiosk.sqlite3", kiosk_id="K201")
    try:
        queue_events(store, "K201", queued)
        assert store.pending_count() == queued
        with running_server(url, root) as server:
            t0 = time.perf_counter()  # the server is back (healthz answered)
            client = RecordServerClient(server.url, "K201", tokens["K201"], read_timeout_s=60)
            engine = SyncEngine(store, client, batch_size=100, page_size=PAGE)
            report = engine.sync_once()
            took = time.perf_counter() - t0
            left = store.pending_count()
            client.close()
            t0 = time.perf_counter()
            applied = bare_push(server.url, "K202", tokens["K202"], queued)
            bare_pull(server.url, "K202", tokens["K202"])
            base = time.perf_counter() - t0
    finally:
        store.close()
    notes = [f"sync_once: pushed {report.pushed} (applied {report.applied}, rejected "
             f"{report.rejected}), pulled {report.pulled}, {left} left pending",
             f"bare requests: {applied} applied + pull of all changes in {base:.1f} s"]
    ok = left == 0 and report.applied == queued
    return Result(f"4a catch-up {count(queued)} queued", "server back -> synced", took, "s",
                  baseline_name="bare requests push+pull", baseline=base,
                  target=f"<= {PUSH_TARGET_S:.0f} s", met=ok and took <= PUSH_TARGET_S,
                  notes=notes, valid=ok)


def new_replica(root: Path, readers: int = READERS, items: int = ITEMS,
                data_dir: Path = RESULTS_DIR) -> Result:
    """Pull a replica of ``readers`` + ``items`` into an empty store (``data_dir``: where the
    generated replica is cached)."""
    shutil.copyfile(server_replica(readers, items, directory=data_dir), root / "records.sqlite3")
    url = sqlite_url(root)
    tokens = enroll(url, ["K301"])
    store = Store.open(root / "kiosk.sqlite3", kiosk_id="K301")
    try:
        with running_server(url, root) as server:
            t0 = time.perf_counter()
            base_pulled = bare_pull(server.url, "K301", tokens["K301"])
            base = time.perf_counter() - t0
            client = RecordServerClient(server.url, "K301", tokens["K301"], read_timeout_s=60)
            engine = SyncEngine(store, client, page_size=PAGE)
            pulled, calls = 0, 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < TIME_LIMIT_S:
                calls += 1
                got = engine.pull_all()  # stops after max_rounds pages: call again until done
                pulled += got
                if got == 0 or store.pull_cursor() >= readers + items:
                    break
            took = time.perf_counter() - t0
            client.close()
        have_readers, have_items = store.count("readers"), store.count("items")
    finally:
        store.close()
    ok = have_readers == readers and have_items == items
    notes = [f"pull_all x{calls}: {pulled} changes; store has {have_readers} readers, "
             f"{have_items} items",
             f"bare requests: {base_pulled} changes in {base:.1f} s"]
    return Result(f"4b new replica {count(readers)}/{count(items)}", "pull to complete replica",
                  took, "s", baseline_name="bare requests pages", baseline=base,
                  target=f"<= {PULL_TARGET_S:.0f} s", met=ok and took <= PULL_TARGET_S,
                  notes=notes, valid=ok)


def run() -> list[Result]:
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-catchup-a-") as tmp:
        out.append(offline_day(Path(tmp)))
    with tempfile.TemporaryDirectory(prefix="bench-catchup-b-") as tmp:
        out.append(new_replica(Path(tmp)))
    return out

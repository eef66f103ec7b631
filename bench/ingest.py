"""3. Server ingest: 20 concurrent kiosks push outbox events in batches of 100 per request.

Measured on SQLite and on PostgreSQL (a throwaway cluster): a real record-server process on
127.0.0.1; each client is an enrolled kiosk with its own token and requests session, pushing its
own events in order (new-reader transactions: reader, card, fee, payment). Figures: events/s
over the whole run (first request sent to last answer) and p99 latency per request. Every event
must come back ``applied``.
Baselines, same run:
- bare DB: the rows the server wrote for those events (events, readers, cards, fees, payments,
  change log, ...) copied into a fresh database of the same schema with plain SQLAlchemy Core
  executemany, one transaction per 100-event request's share, by 20 threads.
- Kinto 26.5 (its own venv) on the same PostgreSQL cluster: the same envelopes stored as records
  through ``POST /v1/batch`` (100 PUTs per batch), 20 concurrent clients.
Targets: >= 3,000 events/s on SQLite; on PostgreSQL at least Kinto's rate.
"""

from __future__ import annotations

import collections
import math
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.common import Result, percentile
from bench.events import KioskStream, batches
from bench.server import enroll, postgres, running_server, sqlite_url

CLIENTS = 20
BATCH = 100
BATCHES_PER_CLIENT = 10  # 20,000 events per database
KINTO_BATCHES_PER_CLIENT = 3  # Kinto is far slower; its rate is what is compared
DEADLINE_S = 120.0
SQLITE_TARGET = 3000.0
SKIP_TABLES = {"server_state", "kiosks", "staff", "staff_sessions"}


def kiosk_ids(n: int, first: int = 101) -> list[str]:
    return [f"K{first + i}" for i in range(n)]


def run_clients(jobs: dict[str, list[Any]], send: Callable[[requests.Session, str, Any], int]
                ) -> tuple[list[float], float, collections.Counter[Any]]:
    """One thread per client sends its jobs in order; returns latencies (ms), wall s, statuses."""
    latencies: list[float] = []
    statuses: collections.Counter[Any] = collections.Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(jobs) + 1)
    deadline = [0.0]

    def client(name: str, work: list[Any]) -> None:
        session = requests.Session()
        start.wait()
        for job in work:
            if time.monotonic() > deadline[0]:
                with lock:
                    statuses["deadline"] += 1
                break
            t0 = time.perf_counter()
            try:
                status: Any = send(session, name, job)
            except requests.RequestException as err:
                status = type(err).__name__
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                statuses[status] += 1
        session.close()

    threads = [threading.Thread(target=client, args=(n, w), daemon=True) for n, w in jobs.items()]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + DEADLINE_S
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(DEADLINE_S + 60)
    return latencies, time.perf_counter() - t0, statuses


def push_to_server(url: str, tokens: dict[str, str], jobs: dict[str, list[list[dict[str, Any]]]]
                   ) -> tuple[list[float], float, collections.Counter[Any]]:
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def send(session: requests.Session, kiosk: str, batch: list[dict[str, Any]]) -> int:
        resp = session.post(f"{url}/api/v1/kiosks/{kiosk}/events", json={"events": batch},
                            headers={"Authorization": f"Bearer {tokens[kiosk]}"}, timeout=60)
        if resp.status_code == 200:
            with lock:
                outcomes.update(r["status"] for r in resp.json()["results"])
        return resp.status_code

    lat, wall, statuses = run_clients(jobs, send)
    statuses.update({f"event {k}": v for k, v in outcomes.items()})
    return lat, wall, statuses


def copy_rows_baseline(src_url: str, dst_url: str, requests_count: int
                       ) -> tuple[list[float], float, int]:
    """Insert the rows the server wrote into a fresh schema: plain executemany, 20 threads."""
    from sqlalchemy import create_engine, text

    from record_server import models
    from record_server.db import migrate

    src = create_engine(src_url)
    rows: list[tuple[Any, list[dict[str, Any]]]] = []
    with src.connect() as conn:
        for table in models.metadata.sorted_tables:
            if table.name in SKIP_TABLES:
                continue
            data = [dict(r._mapping) for r in conn.execute(table.select())]
            if data:
                rows.append((table, data))
    src.dispose()
    total_rows = sum(len(d) for _, d in rows)
    is_sqlite = dst_url.startswith("sqlite")
    dst = create_engine(dst_url, **({} if is_sqlite else {"pool_size": CLIENTS}))
    migrate(dst)
    lock = threading.Lock() if is_sqlite else None
    latencies: list[float] = []

    def chunk(k: int) -> None:
        t0 = time.perf_counter()
        with dst.begin() as conn:
            if lock is None:  # slices of related tables need not line up: no FK triggers
                conn.execute(text("SET session_replication_role = replica"))
            for table, data in rows:
                size = math.ceil(len(data) / requests_count)
                part = data[k * size:(k + 1) * size]
                if part:
                    conn.execute(table.insert(), part)
        latencies.append((time.perf_counter() - t0) * 1000)

    def locked_chunk(k: int) -> None:
        if lock is None:
            chunk(k)
        else:
            with lock:
                chunk(k)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(locked_chunk, range(requests_count)))
    wall = time.perf_counter() - t0
    dst.dispose()
    return latencies, wall, total_rows


def push_to_kinto(url: str, path: str, jobs: dict[str, list[list[dict[str, Any]]]]
                  ) -> tuple[list[float], float, collections.Counter[Any]]:
    from bench.kinto import AUTH

    outcomes: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def send(session: requests.Session, _client: str, batch: list[dict[str, Any]]) -> int:
        body = {"defaults": {"method": "PUT"},
                "requests": [{"path": f"{path}/{e['event_id']}", "body": {"data": e}}
                             for e in batch]}
        resp = session.post(f"{url}/batch", json=body, auth=AUTH, timeout=60)
        if resp.status_code == 200:
            with lock:
                outcomes.update(r["status"] for r in resp.json()["responses"])
        return resp.status_code

    lat, wall, statuses = run_clients(jobs, send)
    statuses.update({f"record {k}": v for k, v in outcomes.items()})
    return lat, wall, statuses


def make_jobs(ids: list[str], per_client: int, serial_base: int
              ) -> dict[str, list[list[dict[str, Any]]]]:
    jobs = {}
    for i, kiosk in enumerate(ids):
        stream = KioskStream(kiosk, serial_base + i * 1_000_000)
        jobs[kiosk] = batches(stream.events(per_client * BATCH), BATCH)
    return jobs


def server_round(db_url: str, label: str, data_dir: Path, serial_base: int, *,
                 clients: int = CLIENTS, per_client: int = BATCHES_PER_CLIENT
                 ) -> tuple[float, float, list[str], collections.Counter[Any]]:
    ids = kiosk_ids(clients)
    tokens = enroll(db_url, ids)
    jobs = make_jobs(ids, per_client, serial_base)
    with running_server(db_url, data_dir) as server:
        lat, wall, statuses = push_to_server(server.url, tokens, jobs)
    n = sum(len(b) for work in jobs.values() for b in work)
    applied = statuses.get("event applied", 0)
    notes = [f"{label}: {n} events, {len(lat)} requests in {wall:.1f} s; "
             f"p50 {percentile(lat, 50):.0f} ms p99 {percentile(lat, 99):.0f} ms; {dict(statuses)}"]
    if applied != n:
        notes.append(f"{label}: only {applied} of {n} events applied")
    return applied / wall, percentile(lat, 99), notes, statuses


def run() -> list[Result]:
    out: list[Result] = []
    requests_count = CLIENTS * BATCHES_PER_CLIENT
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        # ---- SQLite
        (root / "srv").mkdir()
        (root / "bare").mkdir()
        url = sqlite_url(root / "srv")
        rate, p99, notes, _ = server_round(url, "server/SQLite", root / "srv", 1)
        lat, wall, rows = copy_rows_baseline(url, sqlite_url(root / "bare"), requests_count)
        n = CLIENTS * BATCHES_PER_CLIENT * BATCH
        base_rate = n / wall
        notes.append(f"bare SQLite: {rows} rows in {requests_count} transactions, {wall:.1f} s, "
                     f"p99 {percentile(lat, 99):.0f} ms")
        out.append(Result("3 ingest SQLite", "events/s (higher better)", rate, "ev/s",
                          baseline_name="bare SQLite inserts", baseline=base_rate,
                          target=f">= {SQLITE_TARGET:.0f} ev/s", met=rate >= SQLITE_TARGET,
                          notes=notes))
        out.append(Result("3 ingest SQLite", "p99 per request", p99, "ms",
                          baseline_name="bare SQLite txn", baseline=percentile(lat, 99),
                          target="-"))
        # ---- PostgreSQL: ours, bare, Kinto on one cluster
        with postgres() as cluster:
            pg_url = cluster.create_database("records")
            (root / "srv-pg").mkdir()
            rate, p99, notes, _ = server_round(pg_url, "server/PostgreSQL", root / "srv-pg",
                                               50_000_000)
            lat, wall, rows = copy_rows_baseline(pg_url, cluster.create_database("bare"),
                                                 requests_count)
            bare_rate = n / wall
            notes.append(f"bare PostgreSQL: {rows} rows in {requests_count} transactions, "
                         f"{wall:.1f} s ({bare_rate:.0f} ev/s), p99 {percentile(lat, 99):.0f} ms")
            cluster.create_database("kinto")
            from bench.kinto import prepare_collection, running_kinto

            with running_kinto(f"postgresql://postgres@127.0.0.1:{cluster.port}/kinto") as kurl:
                path = prepare_collection(kurl)
                kjobs = make_jobs(kiosk_ids(CLIENTS), KINTO_BATCHES_PER_CLIENT, 90_000_000)
                klat, kwall, kstatuses = push_to_kinto(kurl, path, kjobs)
            stored = sum(v for k, v in kstatuses.items() if k in ("record 201", "record 200"))
            kinto_rate = stored / kwall
            notes.append(f"Kinto: {stored} records, {len(klat)} batches in {kwall:.1f} s, "
                         f"p50 {percentile(klat, 50):.0f} ms p99 {percentile(klat, 99):.0f} ms; "
                         f"{dict(kstatuses)}")
        out.append(Result("3 ingest PostgreSQL", "events/s (higher better)", rate, "ev/s",
                          baseline_name="Kinto batch, same PG", baseline=kinto_rate,
                          target=">= Kinto", met=rate >= kinto_rate, notes=notes))
        out.append(Result("3 ingest PostgreSQL", "events/s vs bare", rate, "ev/s",
                          baseline_name="bare PG inserts", baseline=bare_rate, target="-"))
        out.append(Result("3 ingest PostgreSQL", "p99 per request", p99, "ms",
                          baseline_name="Kinto batch p99", baseline=percentile(klat, 99),
                          target="-"))
    return out

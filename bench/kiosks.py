"""5. Many kiosks: 200 simulated kiosks sync every 5 s against one server for 60 s.

Each simulated kiosk is a thread with its own token and requests session. Every 5 s (random
phase) it does what ``SyncEngine.sync_once`` does on the wire: push its pending events (half the
rounds carry one new-reader transaction, 5 events), then pull changes from its cursor until the
server says there is no more. Measured: p99 latency over all requests, errors (any non-200 or
exception, or an event not applied), and the server's resident memory sampled every second
(flat = it grows by less than 10 % from 10 s into the run to the end). A connection reset on a
reused keep-alive connection is retried once, as the real sync client does, and counted apart. Target: p99 <= 250 ms,
no errors, memory flat.
Baseline: the same push + pull requests from one kiosk alone against the same server (30
rounds back to back), i.e. the unloaded request latency.
Server: a real record-server process on SQLite on 127.0.0.1.
"""

from __future__ import annotations

import collections
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.common import Result, percentile, rss_mb
from bench.events import KioskStream
from bench.server import enroll, running_server, sqlite_url

KIOSKS = 200
INTERVAL_S = 5.0
DURATION_S = 60.0
TARGET_P99_MS = 250.0


class SimKiosk:
    def __init__(self, url: str, kiosk_id: str, token: str, serial_base: int) -> None:
        self.url = url
        self.kiosk_id = kiosk_id
        self.stream = KioskStream(kiosk_id, serial_base)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.cursor = 0
        self.rng = random.Random(kiosk_id)
        self.outbox: list[dict[str, Any]] = []

    def round(self, latencies: list[float], errors: collections.Counter[str],
              lock: threading.Lock) -> None:
        def call(method: str, path: str, **kw: Any) -> dict[str, Any] | None:
            for attempt in (1, 2):  # like RecordServerClient: retry a connection error once
                t0 = time.perf_counter()
                try:
                    resp = self.session.request(method, f"{self.url}{path}", timeout=30, **kw)
                except requests.ConnectionError as err:
                    with lock:
                        latencies.append((time.perf_counter() - t0) * 1000)
                        key = "connection reset, retried" if attempt == 1 else type(err).__name__
                        errors[key] += 1
                    continue
                except requests.RequestException as err:
                    with lock:
                        errors[type(err).__name__] += 1
                    return None
                with lock:
                    latencies.append((time.perf_counter() - t0) * 1000)
                    if resp.status_code != 200:
                        errors[f"HTTP {resp.status_code}"] += 1
                        return None
                return dict(resp.json())
            return None

        if self.rng.random() < 0.5:
            self.outbox.extend(self.stream.new_reader())
        if self.outbox:  # unanswered events stay queued and go again, as from the outbox
            body = call("POST", f"/api/v1/kiosks/{self.kiosk_id}/events",
                        json={"events": self.outbox})
            if body is not None:
                self.outbox = []
                bad = [r for r in body["results"] if r["status"] != "applied"]
                if bad:
                    with lock:
                        errors[f"event {bad[0]['status']}"] += len(bad)
        for _ in range(50):
            page = call("GET", f"/api/v1/kiosks/{self.kiosk_id}/changes",
                        params={"cursor": self.cursor, "limit": 500})
            if page is None:
                break
            self.cursor = int(page["next_cursor"])
            if not page["more"]:
                break


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-kiosks-") as tmp:
        root = Path(tmp)
        url = sqlite_url(root)
        ids = [f"K{1000 + i}" for i in range(KIOSKS + 1)]
        tokens = enroll(url, ids)
        with running_server(url, root) as server:
            assert server.proc is not None
            pid = server.proc.pid
            lock = threading.Lock()
            # baseline: one kiosk alone
            base_lat: list[float] = []
            base_err: collections.Counter[str] = collections.Counter()
            alone = SimKiosk(server.url, ids[-1], tokens[ids[-1]], 95_000_000)
            for _ in range(30):
                alone.round(base_lat, base_err, lock)
            # 200 kiosks
            kiosks = [SimKiosk(server.url, k, tokens[k], 96_000_000 + i * 10_000)
                      for i, k in enumerate(ids[:-1])]
            latencies: list[float] = []
            errors: collections.Counter[str] = collections.Counter()
            stop = threading.Event()
            t_start = time.monotonic()

            def loop(kiosk: SimKiosk) -> None:
                next_at = t_start + kiosk.rng.uniform(0, INTERVAL_S)
                while not stop.wait(max(0.0, next_at - time.monotonic())):
                    kiosk.round(latencies, errors, lock)
                    next_at += INTERVAL_S
                    if next_at > t_start + DURATION_S:
                        break
                kiosk.session.close()

            threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in kiosks]
            for t in threads:
                t.start()
            memory: list[tuple[float, float]] = []
            while time.monotonic() - t_start < DURATION_S:
                memory.append((time.monotonic() - t_start, rss_mb(pid)))
                time.sleep(1.0)
            stop.set()
            for t in threads:
                t.join(60)
            memory.append((time.monotonic() - t_start, rss_mb(pid)))
    p99, b99 = percentile(latencies, 99), percentile(base_lat, 99)
    warm = next(m for t, m in memory if t >= 10.0)
    end = memory[-1][1]
    flat = end <= warm * 1.10
    n_err = sum(v for k, v in errors.items() if k != "connection reset, retried")
    notes = [f"{len(latencies)} requests ({len(latencies) / DURATION_S:.0f}/s), "
             f"p50 {percentile(latencies, 50):.0f} ms p99 {p99:.0f} ms, errors {dict(errors)}",
             f"server RSS: start {memory[0][1]:.0f} MB, at 10 s {warm:.0f} MB, end {end:.0f} MB, "
             f"max {max(m for _, m in memory):.0f} MB",
             f"one kiosk alone: {len(base_lat)} requests, p99 {b99:.1f} ms, errors {dict(base_err)}"]
    return [
        Result("5 200 kiosks", "p99 request latency", p99, "ms",
               baseline_name="one kiosk alone", baseline=b99,
               target=f"<= {TARGET_P99_MS:.0f} ms, 0 errors",
               met=p99 <= TARGET_P99_MS and n_err == 0, notes=notes),
        Result("5 200 kiosks", "server RSS at end", end, "MB",
               baseline_name="RSS at 10 s", baseline=warm, target="flat (<= +10 %)", met=flat),
    ]

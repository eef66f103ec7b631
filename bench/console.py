"""The console's dashboard and reader search on PostgreSQL with 1,000,000 readers and a year of
events from 20 kiosks (issue 12's bench line; data set: ``bench.console_data``).

Measured: a real server process (``serve``, which migrates), a supervisor signed in through the
console's log-in form (one ``requests`` session, its cookie and CSRF token), then one request
at a time: ``GET /console/dashboard`` (today's counts and money and every kiosk's health), the
reader search by card number (``GET /console/readers?q=``), by name prefix (a surname, a
surname and a given character, a whole name) and by ID number (the form's POST: hashed with
the library key and matched on the index), each for a different reader; every answer is
checked (status 200, the reader found, the full ID number absent). p95 of each.

Baseline, interleaved request by request: the page's own SQL, bare. The statements the page's
data function sends for that request (captured once beforehand from a SQLAlchemy engine) are
replayed on one psycopg connection to the same database, rows fetched, nothing rendered: what
the database alone costs for the page.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import requests

from bench import console_data
from bench.common import Result, percentile, summary_ms
from bench.events import resident_id
from bench.server import enroll
from library_core.clock import CHINA_TZ
from library_core.codes import make_card_no
from library_core.identity import mask_resident_id
from record_server.config import load_config
from record_server.console import dashboard_data, readers_data
from tests.support.server_process import LIBRARY_KEY, STAFF_PASSWORD, ServerProcess

log = logging.getLogger(__name__)
READERS = 1_000_000
KIOSKS = 20
DAYS = 365
SAMPLES = 60  # requests per page (p95 of 60: the 57th)
TARGET_MS = 200.0
STAFF = "S0001"
Statements = list[tuple[str, Any]]


def _log_in(base: str, password: str) -> tuple[requests.Session, str]:
    """A console session signed in as STAFF through the form; (session, its CSRF token)."""
    s = requests.Session()
    form = s.get(f"{base}/console/login", timeout=30)
    pre = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert pre is not None, form.text[:500]
    home = s.post(f"{base}/console/login", timeout=30, data={
        "staff_no": STAFF, "password": password, "csrf_token": pre.group(1)})
    assert home.status_code == 200 and home.url.rstrip("/").endswith("/console"), home.text[:500]
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      s.get(f"{base}/console/readers", timeout=30).text)
    assert token is not None
    return s, token.group(1)


class _Capture:
    """The statements an in-process SQLAlchemy engine sends while ``fn`` runs."""

    def __init__(self, url: str, key: bytes) -> None:
        from sqlalchemy import create_engine, event

        self.engine = create_engine(url).execution_options(library_key=key)
        self.sent: Statements = []

        @event.listens_for(self.engine.engine, "before_cursor_execute")
        def _keep(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any,
                  _many: bool) -> None:
            self.sent.append((statement, params))

    def of(self, fn: Callable[[Any], object]) -> Statements:
        self.sent = []
        with self.engine.connect() as conn, conn.begin():
            fn(conn)
        return [(s, p) for s, p in self.sent if not s.lstrip().upper().startswith(
            ("BEGIN", "COMMIT", "ROLLBACK", "SELECT PG_", "SHOW", "SELECT CURRENT_SCHEMA"))]

    def close(self) -> None:
        self.engine.dispose()


def _first_purge(url: str, timeout: float = 600.0) -> float:
    """Wait for the server's visitor purge at start (``serve`` runs one on its timer thread,
    reading a year of visits the first time) to be recorded; its seconds from now."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    t0 = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() - t0 < timeout:
            row = conn.execute("SELECT count(*) FROM visitor_purges").fetchone()
            if row is not None and row[0] > 1:  # the data set's own (yesterday's) and this
                break
            time.sleep(0.2)
    return time.monotonic() - t0


def _bare(cur: Any, statements: Statements) -> float:
    t0 = time.perf_counter()
    for statement, params in statements:
        cur.execute(statement, params)
        cur.fetchall()
    return (time.perf_counter() - t0) * 1000


def _timed(fn: Callable[[], requests.Response]) -> tuple[float, requests.Response]:
    t0 = time.perf_counter()
    resp = fn()
    return (time.perf_counter() - t0) * 1000, resp


def run(readers: int = READERS, kiosks: int = KIOSKS, days: int = DAYS,
        samples: int = SAMPLES) -> list[Result]:
    key = LIBRARY_KEY.encode()
    kiosk_ids = [f"K{i:02d}" for i in range(1, kiosks + 1)]
    config = load_config(data_dir=Path(tempfile.gettempdir()), database_url=None,
                         library_key=key)
    cache = console_data.cache_path(readers, kiosks, days)
    cluster = console_data.CachedCluster(cache)
    t_data = time.monotonic()
    cluster.start()
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/{console_data.DB_NAME}"
        if not cluster.cached:
            cluster.create_database(console_data.DB_NAME)
            enroll(url, kiosk_ids)  # migrates, then the kiosks as the server enrols them
            console_data.generate(url, readers=readers, kiosks=kiosk_ids, days=days, key=key,
                                  retention_days=config.visitor_retention_days)
            cluster.save()
        data_s = time.monotonic() - t_data
        with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
            server = ServerProcess(Path(tmp), url)
            server.create_staff(STAFF, role="supervisor", name="李强")
            server.start(timeout=600)  # a new migration on a cached set runs here
            try:
                purge_s = _first_purge(url)
                rows = _measure(server.url, url, key, readers, samples,
                                config.kiosk_silent_minutes)
            finally:
                server.terminate()
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
                      for t in ("readers", "cards", "events", "payments", "visits")}
    finally:
        cluster.stop()
    rows[0].notes.append(f"the server's visitor purge at start (it runs on a thread; "
                         f"measured after it) took {purge_s:.1f} s")
    size = (f"data set {'copied from the cache' if cluster.cached else 'generated'} in "
            f"{data_s:.0f} s: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    load = f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    rows[0].notes += [size, load]
    return rows


def _measure(base: str, url: str, key: bytes, readers: int, samples: int,
             silent_minutes: int) -> list[Result]:
    session, csrf = _log_in(base, STAFF_PASSWORD)
    rng = random.Random(12)
    picks = [rng.randint(1, readers) for _ in range(samples * 3)]
    names = [console_data.reader_name(i) for i in picks]
    queries = {
        "card number": [make_card_no(i) for i in picks[:samples]],
        "name prefix": [n[: 1 + k % 3] for k, n in enumerate(names[samples:2 * samples])],
        "ID number": [resident_id(i) for i in picks[2 * samples:]],
    }
    capture = _Capture(url, key)
    try:
        now = dt.datetime.now(CHINA_TZ)
        dash_sql = capture.of(lambda c: dashboard_data.dashboard(
            c, now=now, silent_minutes=silent_minutes))
        search_sql = {kind: [capture.of(lambda c, q=q: readers_data.search(
            c, q, library_key=key)) for q in qs] for kind, qs in queries.items()}
    finally:
        capture.close()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    out: list[Result] = []
    with psycopg.connect(dsn, autocommit=True) as raw, raw.cursor() as cur:
        ok = True
        page, bare = [], []
        for _ in range(samples + 3):
            took, resp = _timed(lambda: session.get(f"{base}/console/dashboard", timeout=60))
            ok &= resp.status_code == 200 and "K20" in resp.text
            page.append(took)
            bare.append(_bare(cur, dash_sql))
        page, bare = page[3:], bare[3:]  # the first three warm the server's caches
        out.append(_row("dashboard", page, bare, ok, "GET /console/dashboard p95"))
        for kind, qs in queries.items():
            ok, page, bare = True, [], []
            for q, sql, pick in zip(qs, search_sql[kind], _picks(kind, picks, samples),
                                    strict=True):
                if kind == "ID number":
                    took, resp = _timed(lambda q=q: session.post(
                        f"{base}/console/readers", data={"q": q, "csrf_token": csrf},
                        timeout=60))
                else:
                    took, resp = _timed(lambda q=q: session.get(
                        f"{base}/console/readers", params={"q": q}, timeout=60))
                found = resp.status_code == 200 and "/console/readers/R" in resp.text
                if kind != "name prefix":
                    found &= f"/console/readers/{console_data.reader_id(pick)}" in resp.text
                if kind == "ID number":
                    found &= q not in resp.text and mask_resident_id(q) in resp.text
                ok &= found
                page.append(took)
                bare.append(_bare(cur, sql))
            out.append(_row(f"reader search by {kind}", page, bare, ok,
                            "console page p95"))
    return out


def _picks(kind: str, picks: list[int], samples: int) -> list[int]:
    start = {"card number": 0, "name prefix": samples, "ID number": 2 * samples}[kind]
    return picks[start:start + samples]


def _row(what: str, page: list[float], bare: list[float], ok: bool, metric: str) -> Result:
    p95, base = percentile(page, 95), percentile(bare, 95)
    return Result(f"console {what}", metric, p95, "ms",
                  baseline_name="the page's SQL bare, p95", baseline=base,
                  target=f"<= {TARGET_MS:.0f} ms", met=ok and p95 <= TARGET_MS,
                  notes=[f"{what}: page {summary_ms(page)}; bare SQL {summary_ms(bare)}"
                         + ("" if ok else "; SOME ANSWERS WRONG")], valid=ok)

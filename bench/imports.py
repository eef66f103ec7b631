"""Import of 1,000,000 items on PostgreSQL: ``record-server import-items FILE`` (the console's
own checks, then one transaction with COPY) from a CSV, against a throwaway cluster.

Measured: the command from start to exit (the file read, every row checked, the database
asked about every barcode, the items and their change-log rows written and committed).
Baseline: a bare psycopg COPY of the same rows into ``items`` alone, no checks, no change log
(the floor). Checked: the database then holds every item and its change row.
"""

from __future__ import annotations

import csv
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Result, count
from bench.server import postgres

log = logging.getLogger(__name__)
ITEMS = 1_000_000
TARGET_S = 60.0


def write_csv(path: Path, n: int) -> None:
    from library_core.codes import make_item_barcode

    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(("barcode", "title", "author", "call_no"))
        for i in range(1, n + 1):
            out.writerow((make_item_barcode(i), f"中国图书馆分类法 第{i}册", "编委会", f"G25/{i}"))


def _bare_copy(url: str, path: Path) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    t0 = time.monotonic()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bare (LIKE items INCLUDING ALL)")
        with path.open(encoding="utf-8") as fh, cur.copy(
                "COPY bare (barcode, title, author, call_no, status, hold) FROM STDIN") as copy:
            rows = csv.reader(fh)
            next(rows)
            for row in rows:
                copy.write_row((*row, "available", False))
    return time.monotonic() - t0


def _counts(url: str) -> tuple[int, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            items = conn.execute(text("SELECT count(*) FROM items")).scalar_one()
            changes = conn.execute(text(
                "SELECT count(*) FROM changes WHERE entity = 'item'")).scalar_one()
    finally:
        engine.dispose()
    return int(items), int(changes)


def run(n: int = ITEMS) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp, postgres() as cluster:
        root = Path(tmp)
        path = root / "items.csv"
        t0 = time.monotonic()
        write_csv(path, n)
        log.info("wrote %s (%d MB) in %.1f s", path.name, path.stat().st_size >> 20,
                 time.monotonic() - t0)
        url = cluster.create_database()
        cmd = [sys.executable, "-m", "record_server", "import-items", str(path),
               "--data-dir", str(root / "srv"), "--database-url", url]
        subprocess.run([sys.executable, "-m", "record_server", "migrate", "--data-dir",
                        str(root / "srv"), "--database-url", url], cwd=ROOT, check=True,
                       capture_output=True, timeout=300)
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        took = time.monotonic() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        items, changes = _counts(url)
        base = _bare_copy(url, path)
    ok = res.returncode == 0 and items == n and changes == n
    notes = [res.stdout.strip() or res.stderr.strip()[-300:],
             f"database holds {items} items and {changes} item changes; "
             f"bare COPY into items alone {base:.1f} s",
             f"the command used {cpu:.1f} s of CPU (PostgreSQL's apart); machine load average "
             f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]
    return [Result(f"import {count(n)} items (PostgreSQL)", "record-server import-items CSV",
                   took, "s", baseline_name="bare COPY, no checks", baseline=base,
                   target=f"<= {TARGET_S:.0f} s", met=ok and took <= TARGET_S, notes=notes,
                   valid=ok)]

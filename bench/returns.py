"""2. Return scan to confirmation on a store of 1,000,000 items and 200,000 open loans.

Measured: one scan handed to ``ReturnSession.scan`` (the use case the returns screen calls) until
the check-in transaction has committed (loan closed, item available, overdue fine, outbox event,
audit row; WAL, synchronous=FULL) and the confirmation text is translated for the screen.
A new session every 20 scans, as readers come and go. Target p95 <= 50 ms.
Baseline: the bare SQLite statements of the same check-in (select item and open loan, close the
loan, free the item, insert the fine, bump the outbox counter, insert the outbox event and the
audit row, move the audit head) on another connection to the same file, for other loans,
interleaved scan by scan.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import RESULTS_DIR, Result, percentile, summary_ms
from bench.dataset import REFERENCE_DAY, due_on, loan_serial, local_store, working_copy
from library_core.clock import CHINA_TZ, FixedClock
from library_core.codes import make_item_barcode
from library_core.i18n import translate

ITEMS = 1_000_000
LOANS = 200_000
SCANS = 400
TARGET_MS = 50.0


def bare_check_in(conn: sqlite3.Connection, barcode: str, now: dt.datetime) -> None:
    """The same check-in as plain SQL statements, one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    item = conn.execute("SELECT * FROM items WHERE barcode = ?", (barcode,)).fetchone()
    loan = conn.execute("SELECT * FROM loans WHERE item_barcode = ? AND returned_at IS NULL",
                        (barcode,)).fetchone()
    assert item is not None and loan is not None
    stamp = now.isoformat()
    conn.execute("UPDATE loans SET returned_at = ? WHERE loan_id = ?", (stamp, loan[0]))
    conn.execute("UPDATE items SET status = 'available' WHERE barcode = ?", (barcode,))
    late = (now.date() - dt.date.fromisoformat(loan[4])).days
    if late > 0:
        conn.execute(
            "INSERT INTO fees (fee_id, reader_id, kind, amount, status, description, created_at,"
            " loan_id, item_barcode) VALUES (?, ?, 'overdue', ?, 'open', ?, ?, ?, ?)",
            (uuid.uuid4().hex, loan[2], late * 10, item[1], stamp, loan[0], barcode))
    conn.execute("INSERT INTO counters (name, value) VALUES ('bench_seq', 1)"
                 " ON CONFLICT(name) DO UPDATE SET value = value + 1")
    seq = conn.execute("SELECT value FROM counters WHERE name = 'bench_seq'").fetchone()[0]
    conn.execute("INSERT INTO outbox (event_id, seq, kind, occurred_at, payload) VALUES"
                 " (?, ?, 'loan.returned', ?, ?)",
                 (str(uuid.uuid4()), 10_000_000 + seq, stamp,
                  json.dumps({"loan_id": loan[0], "item_barcode": barcode})))
    conn.execute("INSERT INTO audit_log (id, at, actor, action, subject, detail, prev_hash, hash)"
                 " VALUES (?, ?, 'self-service', 'loan.returned', ?, '{}', ?, ?)",
                 (10_000_000 + seq, stamp, barcode, "0" * 64, "1" * 64))
    conn.execute("INSERT INTO kv (key, value) VALUES ('bench_head', ?) ON CONFLICT(key)"
                 " DO UPDATE SET value = excluded.value", (str(seq),))
    conn.execute("COMMIT")


def run() -> list[Result]:
    return [measure()]


def measure(items: int = ITEMS, loans: int = LOANS, scans: int = SCANS, readers: int = 50_000,
            data_dir: Path = RESULTS_DIR) -> Result:
    """The benchmark at these sizes (``data_dir``: where the generated store is cached)."""
    from tests.support.services import make_env

    source = local_store(items, loans, readers, directory=data_dir)
    rng = random.Random(20261124)
    picked = rng.sample(range(loans), 2 * scans)
    ours = [make_item_barcode(loan_serial(i, items, loans)) for i in picked[:scans]]
    theirs = [make_item_barcode(loan_serial(i, items, loans)) for i in picked[scans:]]
    overdue = sum(due_on(i) < REFERENCE_DAY for i in picked[:scans])
    with tempfile.TemporaryDirectory(prefix="bench-returns-") as tmp:
        path = working_copy(source, Path(tmp) / "kiosk.sqlite3")
        clock = FixedClock(dt.datetime.combine(REFERENCE_DAY, dt.time(10, 0), tzinfo=CHINA_TZ))
        env = make_env(path, clock=clock)
        bare = sqlite3.connect(path, isolation_level=None)
        bare.execute("PRAGMA synchronous = FULL")
        bare.execute("PRAGMA busy_timeout = 10000")
        measured: list[float] = []
        base: list[float] = []
        outcomes: dict[str, int] = {}
        session = env.services.returns.start()
        try:
            for n, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
                if n % 20 == 0:
                    session = env.services.returns.start()
                clock.advance(seconds=1)
                t0 = time.perf_counter()
                result = session.scan(mine)
                text = translate(result.message_id, "zh_CN", title=result.title,
                                 barcode=result.barcode, fine=result.fine, days=result.days_overdue)
                measured.append((time.perf_counter() - t0) * 1000)
                assert text
                outcomes[str(result.outcome)] = outcomes.get(str(result.outcome), 0) + 1
                t0 = time.perf_counter()
                bare_check_in(bare, other, clock.now())
                base.append((time.perf_counter() - t0) * 1000)
            # an item that is not on loan: the "hand it to the desk" answer
            idle = [make_item_barcode(loan_serial(i, items, loans) + 1) for i in range(20)]
            not_on_loan = []
            for barcode in idle:
                t0 = time.perf_counter()
                env.services.returns.check_in(barcode)
                not_on_loan.append((time.perf_counter() - t0) * 1000)
        finally:
            bare.close()
            env.store.close()
    p95, b95 = percentile(measured, 95), percentile(base, 95)
    notes = [f"service {summary_ms(measured)}; outcomes {outcomes}; {overdue} overdue (fined)",
             f"bare SQL {summary_ms(base)}",
             f"scan of an item not on loan: {summary_ms(not_on_loan)}"]
    complete = outcomes.get("returned", 0) == scans
    if not complete:
        notes.append("NOT every scan checked in: the figure is not comparable")
    return Result("2 returns", "p95 scan->committed", p95, "ms",
                  baseline_name="bare SQLite statements", baseline=b95,
                  target=f"<= {TARGET_MS:.0f} ms", met=complete and p95 <= TARGET_MS,
                  notes=notes, valid=complete)

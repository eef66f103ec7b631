"""SIGKILL in the middle of a batch of transactions: the store stays whole.

A child process runs real use cases (new card: reader, card, fees, payment, receipt, audit and
outbox events in one transaction; visitor registration) in a tight loop on a file store and
reports each commit on stdout. The test kills it with SIGKILL at an arbitrary moment, several
rounds on the same file, then opens the store and checks ``PRAGMA integrity_check``, the audit
chain, and that every committed transaction is complete and none is half-made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from server_client.store import Store

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from library_core.clock import FixedClock
    from kiosk.services import build_services
    from kiosk.services.cards import NewReader
    from kiosk.services.common import Tender
    from kiosk.services.payment import SimulatedPaymentGateway
    from kiosk.services.visitors import VisitorRequest
    from server_client.store import Store
    from tests.support import services as s

    path, start = Path(sys.argv[1]), int(sys.argv[2])
    store = Store.open(path, kiosk_id="K01")
    if store.count("staff") == 0:
        s.add_staff(store)
    cfg = s.ServicesConfig(kiosk_id="K01", kiosk_no=1, library_key=s.TEST_KEY,
                           fees=s.load_fee_schedule(s.CONFIG_DIR / "fees.toml"), pin_n=s.CHEAP_N)
    writer = s.MemoryCardWriter(first_uid=start * 1000)
    svc = build_services(store, FixedClock(s.START), SimulatedPaymentGateway(), writer, cfg)
    print("ready", flush=True)
    i = start
    while True:
        writer.place_blank()
        r = svc.cards.new_card(s.make_reader(i % 1000), Tender.payment_code(s.WECHAT_CODE))
        print("reader", r.reader_id, r.receipt.receipt_no, flush=True)
        v = svc.visitors.register(VisitorRequest(name="访客", phone="13900001111", purpose="p",
                                                 host_department="d", consent=True))
        print("visit", v.visit.visit_id, flush=True)
        i += 1
        # a reader with this ID now exists: use a fresh ID next round
        if i % 1000 == 0:
            i += 1
""")


def _run_and_kill(path: Path, start: int, child: Path, after_lines: int) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(child), str(path), str(start)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip() == "ready", proc.stderr.read() if proc.stderr else first
        while len(lines) < after_lines:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"child died: {proc.stderr.read() if proc.stderr else ''}")
            lines.append(line.strip())
        proc.send_signal(signal.SIGKILL)  # mid-loop: most likely inside a transaction
        rest, _ = proc.communicate(timeout=30)
        lines.extend(ln.strip() for ln in rest.splitlines() if ln.strip())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return lines


def test_sigkill_mid_batch_leaves_whole_store(tmp_path: Path) -> None:
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    path = tmp_path / "crash.sqlite3"
    committed_readers: list[str] = []
    committed_visits: list[str] = []
    for round_no, after in enumerate((15, 40, 7, 60)):
        for line in _run_and_kill(path, round_no * 100 + 1, child, after):
            kind, key, *_ = line.split()
            (committed_readers if kind == "reader" else committed_visits).append(key)

    store = Store.open(path, kiosk_id="K01")
    try:
        assert store.integrity_check() == ["ok"]
        chain = store.verify_audit_chain()
        assert chain.ok, chain

        readers = {r[0] for r in store.read("SELECT reader_id FROM readers")}
        # every transaction reported as committed is there (a kill may land after COMMIT and
        # before the print, so the store may hold one more than was reported per round)
        assert set(committed_readers) <= readers
        assert len(readers) - len(committed_readers) <= 4
        visits = {r[0] for r in store.read("SELECT visit_id FROM visitors")}
        assert set(committed_visits) <= visits

        # none is half-made: each reader has its card, two paid fees, one payment, a receipt,
        # and its five outbox events; each visit its event
        for reader_id in readers:
            assert store.count("cards", "reader_id = ?", (reader_id,)) == 1
            assert store.count("fees", "reader_id = ? AND status = 'paid'", (reader_id,)) == 2
            pay = store.read("SELECT payment_id, receipt_no FROM payments WHERE reader_id = ?",
                             (reader_id,))
            assert len(pay) == 1
            assert store.count("payment_allocations", "payment_id = ?", (pay[0][0],)) == 2
            assert store.receipt(pay[0][1]) is not None
        kinds = Counter(r[0] for r in store.read("SELECT kind FROM outbox"))
        n = len(readers)
        assert kinds["reader.registered"] == kinds["card.issued"] == kinds["payment.recorded"] == n
        assert kinds["fee.assessed"] == 2 * n
        assert kinds["visit.opened"] == len(visits)
        registered = {json.loads(r[0])["reader_id"] for r in store.read(
            "SELECT payload FROM outbox WHERE kind = 'reader.registered'")}
        assert registered == readers
        # the outbox sequence has no gaps and the receipt numbers were never reused
        seqs = [r[0] for r in store.read("SELECT seq FROM outbox ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
        assert store.count("receipts") == n + len(visits)
        counter = store.read_one("SELECT value FROM counters WHERE name = 'receipt:2026-11-24'")
        assert counter is not None and counter[0] == store.count("receipts")
        audit_actions = Counter(r[0] for r in store.read("SELECT action FROM audit_log"))
        assert audit_actions["card.issued"] == n and audit_actions["visit.opened"] == len(visits)
    finally:
        store.close()

"""``record-server reconcile`` (the command line) is the finance page's bill import: the same
screening, the run stored with its audit row, as a supervisor it names and checks
(``record_server.reconcile_cli`` over ``console.bill_import``). Run as a real process against
the database of a real server that the kiosk's own payment recovery pushed its books to
(SQLite and PostgreSQL). A good bill is stored as a run; a hostile or broken file, or a member
who may not import, is refused with a named reason in both languages and stores nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from kiosk.payments.books import ReceiptHeader, UnappliedBooks
from server_client.store.intents import Intent, IntentStore
from tests.support.bills import BillTrade, wechat_bill
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    PYTHON,
    REPO,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import make_env

TRADES = [("LK0000126112400000001AA11", "4200000000202611240001", 2000),
          ("LK0000126112400000002BB22", "4200000000202611240002", 3500)]


def _books(server: ServerProcess, tmp_path: Path) -> None:
    """Two WeChat trades the kiosk's recovery booked as unapplied and refunded, pushed."""
    env = make_env(tmp_path / "kiosk.sqlite3")
    intents = IntentStore(env.store)
    books = UnappliedBooks(intents, env.clock, ReceiptHeader("K01"))
    for otn, tid, amount in TRADES:
        intents.create(Intent(otn, "wechat", amount, "new-card:R-gone", "open"),
                       at=env.clock.now())
        intents.move(otn, "paid", at=env.clock.now(), transaction_id=tid)
        books.book_refund(books.book_payment(intents.get(otn)))  # type: ignore[arg-type]
    events = sorted(env.store.pending_events(100), key=lambda e: e["seq"])
    env.store.close()
    token = server.enroll("K01")
    resp = server.post("/api/v1/kiosks/K01/events", token, json={"events": events})
    assert resp.status_code == 200, resp.text
    assert {r["status"] for r in resp.json()["results"]} == {"applied"}, resp.json()


def _reconcile(server: ServerProcess, bill: Path | str, staff_no: str,
               *extra: str) -> tuple[int, dict[str, Any], str]:
    res = subprocess.run([str(PYTHON), "-m", "record_server", "reconcile", "--bill", str(bill),
                          "--staff-no", staff_no, *extra, "--data-dir", str(server.data_dir),
                          "--database-url", server.database_url],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    out = json.loads(res.stdout) if res.stdout.strip() else {}
    return res.returncode, out, res.stderr


def _stored(server: ServerProcess) -> tuple[int, list[tuple[Any, ...]]]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(text("SELECT count(*) FROM reconciliation_runs")).scalar_one()
            audits = [tuple(r) for r in conn.execute(text(
                "SELECT staff_no, target FROM audit_log WHERE action = 'finance.reconcile'"
                " ORDER BY id"))]
    finally:
        engine.dispose()
    return int(runs), audits


def _bill(path: Path, trades: list[BillTrade]) -> Path:
    path.write_bytes(wechat_bill(trades))
    return path


def test_the_command_line_imports_a_bill_as_the_finance_page_does(
        tmp_path: Path, db_url: str, server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(db_url)
    server.cli("migrate")
    server.create_staff("S0001", role="supervisor")
    server.create_staff("S0002", role="desk")
    server.start()
    _books(server, tmp_path)
    published = [BillTrade(tid, otn, amount, refunded=amount) for otn, tid, amount in TRADES]
    good = _bill(tmp_path / "wechat-2026-11-24.csv", published)

    code, run, _ = _reconcile(server, good, "S0001")
    assert (code, run["provider"], run["days"], run["matched"], run["mismatches"]) == (
        0, "wechat", ["2026-11-24"], 4, [])  # two payments and their refunds, each matched
    assert (run["staff_no"], run["file_name"], run["bill_rows"]) == ("S0001", good.name, 4)
    assert _stored(server) == (1, [("S0001", run["run_id"])])

    # a planted mismatch: the provider says the second trade was 1 fen more
    planted = _bill(tmp_path / "planted.csv", [published[0], BillTrade(
        TRADES[1][1], TRADES[1][0], 3501, refunded=3500)])
    code, run, _ = _reconcile(server, planted, "S0001", "--provider", "wechat")
    assert code == 1
    assert [(m["kind"], m["transaction_id"], m["provider_amount"], m["books_amount"],
             m["kiosk_id"]) for m in run["mismatches"]] == [
        ("amount_differs", TRADES[1][1], 1, 0, "K01")]
    assert _stored(server)[0] == 2

    data = good.read_bytes()
    hostile: list[tuple[Path | str, str, str]] = [
        (tmp_path / "formula.csv", "formula", "S0001"),
        (tmp_path / "control.csv", "control_chars", "S0001"),
        (tmp_path / "short.csv", "field_count", "S0001"),
        ("/dev/zero", "too_big", "S0001"),  # read no further than the limit
        (tmp_path / "absent.csv", "unreadable", "S0001"),
        (good, "staff_role", "S0002"),  # desk staff do not import bills
        (good, "staff_unknown", "S0099"),
    ]
    (tmp_path / "formula.csv").write_bytes(data.replace(
        TRADES[0][1].encode(), b'=HYPERLINK("http://x")', 1))
    (tmp_path / "control.csv").write_bytes(data.replace(TRADES[0][1].encode(),
                                                        "42\u202e1".encode(), 1))
    lines = data.split(b"\r\n")
    lines[1] = lines[1].rsplit(b",", 1)[0]  # a trade line one field short
    (tmp_path / "short.csv").write_bytes(b"\r\n".join(lines))
    for bill, reason, staff_no in hostile:
        code, refused, log = _reconcile(server, bill, staff_no)
        assert (code, refused.get("refused")) == (2, reason), (bill, refused, log)
        assert set(refused["message"]) == {"zh_CN", "en"}
        assert refused["message"]["en"] != f"console.recon.err.{reason}"  # a translated text
        assert reason in log
        assert _stored(server)[0] == 2, bill  # nothing stored
    code, _, log = _reconcile(server, good, "not-staff")
    assert code == 2 and "staff number must look like S0001" in log
    assert _stored(server)[0] == 2

"""The finance page's bill import (record_server.console.bill_import) on a migrated SQLite
database: a bill of each layout is stored as a run with its audit row; every hostile or foreign
file is refused with its named reason and stores nothing. The browser and the real producers'
books are in tests/integration/test_console_reconcile.py."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from record_server import models as m
from record_server.console import bill_import
from record_server.db import Database
from record_server.finance_tables import reconciliation_runs
from tests.support.bills import BillTrade, alipay_bill, wechat_bill
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import db_url_fixture  # noqa: F401

NOW = dt.datetime(2026, 11, 25, 1, 30, tzinfo=dt.UTC)
OTN = "LK00003261124000000015A3C"  # kiosk number 3 (kiosk.payments.lifecycle.out_trade_no)
TRADES = [BillTrade("4200000000000001", OTN, 3000),
          BillTrade("4200000000000002", "LK00003261124000000027B4D", 500, refunded=500)]
STAFF = [("S0001", "supervisor", True), ("S0002", "desk", True), ("S0003", "supervisor", False),
         ("S0004", "auditor", True)]


def _db(url: str) -> Database:
    db = Database(url)
    db.migrate()
    with db.write() as conn:
        conn.execute(m.kiosks.insert().values(kiosk_id="K03", created_at=NOW.isoformat(),
                                              kiosk_no=3))
        for staff_no, role, active in STAFF:  # who may import: an active supervisor
            conn.execute(m.staff.insert().values(staff_no=staff_no, name=staff_no, role=role,
                                                 pin_hash="-", active=active))
    return db


@pytest.fixture(name="db")
def db_fixture(db_url: str) -> Iterator[Database]:
    """SQLite and PostgreSQL (migration 0017 on both)."""
    db = _db(db_url)
    yield db
    db.dispose()


@pytest.fixture(name="lite")
def lite_fixture(tmp_path: Path) -> Iterator[Database]:
    db = _db(f"sqlite:///{tmp_path / 'server.sqlite3'}")
    yield db
    db.dispose()


def _stored(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        runs = conn.execute(select(func.count()).select_from(reconciliation_runs)).scalar()
        audits = conn.execute(select(func.count()).select_from(m.audit_log).where(
            m.audit_log.c.action == "finance.reconcile")).scalar()
    return int(runs or 0), int(audits or 0)


@pytest.mark.parametrize("provider, write, choose", [("wechat", wechat_bill, "auto"),
                                                     ("alipay", alipay_bill, "auto"),
                                                     ("alipay", alipay_bill, "alipay")])
def test_a_bill_is_kept_as_a_run_with_its_audit_row(db: Database, provider: str, write: object,
                                                    choose: str) -> None:
    data = write(TRADES)  # type: ignore[operator]
    run_id = bill_import.import_bill(db, provider=choose, file_name="C:\\bills\\day.csv",
                                     data=data, day="", staff_no="S0001", now=NOW)
    with db.read() as conn:
        run = bill_import.run(conn, run_id)
        [audit] = conn.execute(select(m.audit_log).where(m.audit_log.c.target == run_id)).all()
    assert run is not None and run["provider"] == provider and run["file_name"] == "day.csv"
    assert (run["bill_rows"], run["matched"], run["days"]) == (3, 0, ["2026-11-24"])
    # no books: the 30.00 is money at the provider only, named with the kiosk that asked for it
    [found] = run["mismatches"]
    assert (found.kind, found.transaction_id, found.kiosk_id, found.provider_amount,
            found.difference) == ("not_in_books", "4200000000000001", "K03", 3000, 3000)
    after = json.loads(audit.after)
    assert (audit.staff_no, after["bill_rows"], after["mismatch_count"]) == ("S0001", 3, 1)
    assert _stored(db) == (1, 1)


def _bad() -> list[tuple[str, bytes, str, str]]:
    wx, ali = wechat_bill(TRADES), alipay_bill(TRADES)
    return [
        ("wechat", ali, "other_provider", ""), ("alipay", wx, "other_provider", ""),
        ("auto", b"a,b\n1,2\n", "unknown_layout", ""), ("auto", b"  \n", "empty", ""),
        ("auto", b"\xff\xfe\x00\x00" * 8, "encoding", ""),
        ("auto", wx + b"x" * bill_import.MAX_BILL, "too_big", ""),
        ("auto", wx.replace(b"4200000000000001", b"=1+2", 1), "formula", ""),
        ("auto", wx.replace(b"4200000000000001", b"-cmd", 1), "formula", ""),
        ("auto", ali.replace(b"4200000000000001", b"@x", 1), "formula", ""),
        ("auto", wx.replace(b"4200000000000001", b"42\x07", 1), "control_chars", ""),
        ("auto", wx.replace(b"4200000000000001", "42\u2066".encode(), 1), "control_chars", ""),
        ("auto", wx.replace(b"4200000000000001", b"42 00", 1), "bad_id", ""),
        ("auto", wx.replace(b"2026-11-24 10:00:00", b"yesterday", 1), "bad_time", ""),
        ("auto", wx.replace(b"`30.00", b"`30.0.0", 1), "bad_amount", ""),
        ("wechat", wx, "bad_day", "2026-13-01"), ("wechat", wx, "bad_day", "20261124"),
        ("wechat", wx.split(b"\r\n", 1)[0] + b"\r\n", "no_day", ""),
    ]


@pytest.mark.parametrize("provider, data, reason, day", _bad())
def test_a_hostile_or_foreign_file_is_refused_by_name_and_nothing_is_stored(
        lite: Database, provider: str, data: bytes, reason: str, day: str) -> None:
    with pytest.raises(bill_import.BillRefused) as refused:
        bill_import.import_bill(lite, provider=provider, file_name="x.csv", data=data, day=day,
                                staff_no="S0001", now=NOW)
    assert refused.value.reason == reason
    assert _stored(lite) == (0, 0)


@pytest.mark.parametrize("staff_no, reason", [
    ("S0009", "staff_unknown"), ("S0003", "staff_inactive"), ("S0002", "staff_role"),
    ("S0004", "staff_role")])
def test_only_an_active_supervisor_imports_a_bill(lite: Database, staff_no: str,
                                                  reason: str) -> None:
    with pytest.raises(bill_import.BillRefused) as refused:
        bill_import.import_bill(lite, provider="auto", file_name="x.csv",
                                data=wechat_bill(TRADES), day="", staff_no=staff_no, now=NOW)
    assert refused.value.reason == reason
    assert _stored(lite) == (0, 0)


def test_several_days_of_books_are_checked_each(lite: Database) -> None:
    run_id = bill_import.import_bill(lite, provider="auto", file_name="x.csv",
                                     data=wechat_bill(TRADES), day=["2026-11-25", "2026-11-24"],
                                     staff_no="S0001", now=NOW)
    with lite.read() as conn:
        assert bill_import.run(conn, run_id)["days"] == ["2026-11-24", "2026-11-25"]  # type: ignore[index]
    with pytest.raises(bill_import.BillRefused) as refused:
        bill_import.import_bill(lite, provider="auto", file_name="x.csv",
                                data=wechat_bill(TRADES), day=["2026-11-24", "2026-02-30"],
                                staff_no="S0001", now=NOW)
    assert refused.value.reason == "bad_day"
    assert _stored(lite) == (1, 1)

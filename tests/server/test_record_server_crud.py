"""The record server's data functions called directly (no HTTP), on a migrated SQLite file.

Readers and cards come from their real producer (kiosk events through ``apply.push``), items from
``upsert_item``; every refusal is checked to leave the database as it was.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from library_core.clock import FixedClock
from library_core.codes import make_card_no, make_item_barcode
from library_core.fees import load_fee_schedule
from record_server import apply, auth
from record_server import models as m
from record_server.config import FEES_PATH
from record_server.crud import cards, conflicts, health, items, loans, summary
from record_server.crud.errors import NotFound, Refused
from record_server.db import Database
from record_server.schemas import EventEnvelope
from tests.support.server_process import KioskEvents

CLOCK = FixedClock(dt.datetime(2026, 11, 24, 12, 0))
NOW = CLOCK.now().isoformat()
CARD = make_card_no(10**8 + 1)  # K01's range
BOOK = make_item_barcode(1)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    database.migrate()
    auth.enroll_kiosk(database, "K01", CLOCK)
    k = KioskEvents("K01")
    events = [*k.new_reader("r1", 1, CARD), k.pay("r1", k.fee_of(CARD), 1000, "p-again")]
    results, _ = apply.push(database, kiosk_id="K01", schedule=load_fee_schedule(FEES_PATH),
                            envelopes=[EventEnvelope.model_validate(e) for e in events],
                            clock=CLOCK)
    assert [r["status"] for r in results] == ["applied"] * 5 + ["conflict"]
    with database.write() as conn:
        items.upsert_item(conn, barcode=BOOK, title="三体", author="刘慈欣", call_no="I247",
                          hold=False)
    return database


def _state(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t)))
                for t in (m.loans, m.items, m.cards, m.desk_actions, m.changes)}


def _refused(db: Database, error: type[Exception], message: str, **kw: Any) -> None:
    before = _state(db)
    with pytest.raises(error, match=message), db.write() as conn:
        kw.pop("fn")(conn, **kw)
    assert _state(db) == before


def test_create_loan_lends_and_publishes(db: Database) -> None:
    with db.write() as conn:
        made = loans.create_loan(conn, loan_id="L1", item_barcode=BOOK, reader_id="r1",
                                 borrowed_at=NOW, due_on="2026-12-24")
    assert made == {"loan_id": "L1", "item_barcode": BOOK, "reader_id": "r1",
                    "borrowed_at": NOW, "due_on": "2026-12-24"}
    with db.read() as conn:
        assert conn.execute(select(m.items.c.status).where(
            m.items.c.barcode == BOOK)).scalar_one() == "on_loan"
        assert {r.entity for r in conn.execute(select(m.changes))} >= {"loan", "item"}


def test_create_loan_refusals_change_nothing(db: Database) -> None:
    _refused(db, NotFound, "no such item or reader", fn=loans.create_loan, loan_id="L1",
             item_barcode=BOOK, reader_id="nobody", borrowed_at=NOW, due_on="2026-12-24")
    with db.write() as conn:
        loans.create_loan(conn, loan_id="L1", item_barcode=BOOK, reader_id="r1",
                          borrowed_at=NOW, due_on="2026-12-24")
    _refused(db, Refused, "item is not available", fn=loans.create_loan, loan_id="L2",
             item_barcode=BOOK, reader_id="r1", borrowed_at=NOW, due_on="2026-12-24")
    other = make_item_barcode(2)
    with db.write() as conn:
        items.upsert_item(conn, barcode=other, title="x", author="", call_no="", hold=False)
    _refused(db, Refused, "loan id already used", fn=loans.create_loan, loan_id="L1",
             item_barcode=other, reader_id="r1", borrowed_at=NOW, due_on="2026-12-24")


def test_renew_loan_moves_due_date_only_later(db: Database) -> None:
    with db.write() as conn:
        loans.create_loan(conn, loan_id="L1", item_barcode=BOOK, reader_id="r1",
                          borrowed_at=NOW, due_on="2026-12-24")
    _refused(db, Refused, "later", fn=loans.renew_loan, loan_id="L1", due_on="2026-12-24",
             staff_no="S0001", now=NOW)
    _refused(db, NotFound, "no such loan", fn=loans.renew_loan, loan_id="L9",
             due_on="2027-01-24", staff_no="S0001", now=NOW)
    with db.write() as conn:
        assert loans.renew_loan(conn, loan_id="L1", due_on="2027-01-24", staff_no="S0001",
                                now=NOW) == {"loan_id": "L1", "due_on": "2027-01-24"}
        assert conn.execute(select(m.desk_actions.c.action)).scalar_one() == "loan.renew"


def test_block_card_blocks_once_and_logs_every_desk_action(db: Database) -> None:
    _refused(db, NotFound, "no such card", fn=cards.block_card, card_no=make_card_no(9),
             reason="lost", note="", staff_no="S0001", now=NOW)
    with db.write() as conn:
        assert cards.block_card(conn, card_no=CARD, reason="lost", note="desk",
                                staff_no="S0001", now=NOW)["status"] == "lost"
        assert cards.block_card(conn, card_no=CARD, reason="lost", note="again",
                                staff_no="S0001", now=NOW)["status"] == "lost"
        assert cards.block_card(conn, card_no=CARD, reason="cancelled", note="",
                                staff_no="S0001", now=NOW)["status"] == "cancelled"
        assert conn.execute(select(func.count()).select_from(m.desk_actions)).scalar_one() == 3
    with db.read() as conn:
        assert cards.get_card(conn, card_no=CARD)["status"] == "cancelled"
        with pytest.raises(NotFound):
            cards.get_card(conn, card_no=make_card_no(9))


def test_upsert_item_updates_catalogue_fields_and_keeps_status(db: Database) -> None:
    with db.write() as conn:
        loans.create_loan(conn, loan_id="L1", item_barcode=BOOK, reader_id="r1",
                          borrowed_at=NOW, due_on="2026-12-24")
        out = items.upsert_item(conn, barcode=BOOK, title="三体 II", author="刘慈欣",
                                call_no="I247.5", hold=True)
    assert out == {"barcode": BOOK, "title": "三体 II", "author": "刘慈欣", "call_no": "I247.5",
                   "hold": True}
    with db.read() as conn:
        row = conn.execute(select(m.items).where(m.items.c.barcode == BOOK)).one()
    assert (row.title, row.status, bool(row.hold)) == ("三体 II", "on_loan", True)


def test_conflicts_summary_and_ping(db: Database) -> None:
    with db.read() as conn:
        health.ping(conn)
        found = conflicts.list_conflicts(conn, rule=None, limit=10)
        assert [c["rule"] for c in found] == [apply.RULE_DOUBLE_PAYMENT]
        assert found[0]["detail"]["credited"] == 1000 and found[0]["resolved"] is False
        assert conflicts.list_conflicts(conn, rule=apply.RULE_RETURNED_TWICE, limit=10) == []
        totals = summary.summary(conn)
    assert totals["readers"] == 1 and totals["credit"] == 1000
    assert totals["events"] == {"applied": 5, "conflict": 1}
    assert totals["payments"] == {"payment": {"count": 2, "amount": KioskEvents.NEW_CARD_FEN + 1000}}


def test_report_and_summary_answers_carry_every_key_the_data_functions_make(
        db: Database, tmp_path: Path) -> None:
    """Through the app (TestClient): the response models pass the data through unchanged."""
    from fastapi.testclient import TestClient

    from record_server import reports
    from record_server.app import create_app
    from record_server.config import load_config

    auth.create_staff(db, staff_no="S0001", name="张", role="desk", pin="246810", pin_cost=1 << 10)
    token = auth.staff_login(db, "S0001", "246810", CLOCK)[0]
    app = create_app(load_config(data_dir=tmp_path / "cfg"), clock=CLOCK, db=db)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        report = client.get("/api/v1/reports/daily", params={"date": "2026-11-24"},
                            headers=headers)
        totals = client.get("/api/v1/summary", headers=headers)
    with db.read() as conn:
        assert report.json() == reports.daily_report(conn, dt.date(2026, 11, 24), CLOCK.now())
        assert totals.json() == summary.summary(conn)
    assert report.json()["totals"]["payments"] == {"alipay": {"count": 1, "amount": 1000},
                                                   "wechat": {"count": 1,
                                                              "amount": KioskEvents.NEW_CARD_FEN}}

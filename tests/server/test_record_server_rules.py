"""Record server rules applied directly (apply.push on a temp SQLite file, no HTTP)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from library_core.clock import FixedClock
from library_core.fees import load_fee_schedule
from record_server import apply, auth, reports
from record_server.config import FEES_PATH
from record_server.db import Database
from record_server.grants import issue_grant
from record_server.schemas import EventEnvelope
from tests.support.server_process import KioskEvents


def granted(db: Database, event: dict[str, Any]) -> dict[str, Any]:
    """``event`` (a lost-card block or a replacement) with the grant the server gave its kiosk
    for its reader when they gave ID number and PIN."""
    with db.write() as conn:
        event["payload"]["reader_grant"] = issue_grant(
            conn, kiosk_id=event["kiosk_id"], reader_id=event["payload"]["reader_id"],
            now=dt.datetime.fromisoformat(event["occurred_at"]))
    return event


def lost_block(db: Database, k: KioskEvents, card: str, reader_id: str) -> dict[str, Any]:
    """A kiosk's lost-card block with the grant the server gave it for the reader."""
    return granted(db, k.env("card.blocked", {"card_no": card, "reader_id": reader_id,
                                              "reason": "lost"}))

CLOCK = FixedClock(dt.datetime(2026, 11, 24, 12, 0))
SCHEDULE = load_fee_schedule(FEES_PATH)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    database.migrate()
    for kiosk in ("K01", "K02"):
        auth.enroll_kiosk(database, kiosk, CLOCK)
    return database


def push(db: Database, kiosk: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    envs = [EventEnvelope.model_validate(e) for e in events]
    results, _ = apply.push(db, kiosk_id=kiosk, envelopes=envs, schedule=SCHEDULE, clock=CLOCK)
    return results


def test_block_in_the_same_kiosk_before_issue_waits_for_order(db: Database) -> None:
    k = KioskEvents("K01")
    card = k.card(3)
    events = k.new_reader("r3", 3, card)
    block = lost_block(db, k, card, "r3")
    res = push(db, "K01", [block])  # priority first, but its card is not on the server yet
    assert res[0]["status"] == "rejected" and res[0]["detail"].startswith("gap")
    res = push(db, "K01", [block, *events])
    assert [r["status"] for r in res] == ["applied"] * 6


def test_same_fee_paid_twice_in_one_batch_credits_the_second(db: Database) -> None:
    k = KioskEvents("K01")
    setup = k.new_reader("r1", 1, k.card(1))
    fine = k.env("fee.assessed", {"fee_id": "f", "reader_id": "r1", "kind": "overdue",
                                  "amount": 300, "description": ""})
    res = push(db, "K01", [*setup, fine, k.pay("r1", "f", 300, "p1"), k.pay("r1", "f", 300, "p2")])
    assert res[-2]["status"] == "applied"
    assert (res[-1]["status"], res[-1]["rule"]) == ("conflict", apply.RULE_DOUBLE_PAYMENT)
    with db.read() as conn:
        report = reports.daily_report(conn, dt.date(2026, 11, 24), CLOCK.now())
    assert report["totals"]["credited"] == 300
    assert report["totals"]["payments"]["alipay"] == {"count": 2, "amount": 600}


def test_receipt_number_reused_is_rejected(db: Database) -> None:
    k = KioskEvents("K01")
    setup = k.new_reader("r1", 1, k.card(1))
    again = k.pay("r1", k.fee_of(k.card(1)), 1000, "p-other")
    again["payload"]["receipt_no"] = setup[3]["payload"]["receipt_no"]
    res = push(db, "K01", [*setup, again])
    assert res[-1] == {"event_id": again["event_id"], "status": "rejected",
                       "detail": "receipt_no_exists"}


def test_replacement_needs_a_higher_generation_and_old_card_is_replaced(db: Database) -> None:
    k = KioskEvents("K01")
    old, new = k.card(1), k.card(2)
    setup = k.new_reader("r1", 1, old)
    same_gen = granted(db, k.env("card.replaced", {
        "old_card_no": old, "card_no": new, "reader_id": "r1", "uid": "AB", "generation": 1,
        "expires_on": "2029-11-24"}))
    res = push(db, "K01", [*setup, same_gen])
    assert res[-1]["detail"] == "generation_not_higher"
    fee = k.fee_of(new, "replacement")  # the kiosk assesses and pays it before the card
    paid = [k.env("fee.assessed", {"fee_id": fee, "reader_id": "r1", "kind": "replacement",
                                   "amount": SCHEDULE.replacement_fee, "description": ""}),
            k.pay("r1", fee, SCHEDULE.replacement_fee, "p-replacement")]
    assert [r["status"] for r in push(db, "K01", paid)] == ["applied"] * 2
    ok = granted(db, k.env("card.replaced", {"old_card_no": old, "card_no": new,
                                             "reader_id": "r1", "uid": "AB", "generation": 2,
                                             "expires_on": "2029-11-24"}))
    assert push(db, "K01", [ok])[0]["status"] == "applied"
    renew_old = k.renew_paid(old, "r1")
    assert push(db, "K01", renew_old)[-1]["rule"] == apply.RULE_BLOCK_BEATS_RENEWAL


def test_event_id_from_another_kiosk_is_refused(db: Database) -> None:
    k1, k2 = KioskEvents("K01"), KioskEvents("K02")
    ev = k1.visit("K01-V000001")
    assert push(db, "K01", [ev])[0]["status"] == "applied"
    copy = dict(ev, kiosk_id="K02", seq=1)
    k2.seq = 1
    assert push(db, "K02", [copy])[0]["detail"] == "event_id_taken"


def test_rate_limiter_window(tmp_path: Path) -> None:
    """Counted in the database; a burst across the turn of a minute is still refused, and the
    bucket opens again once the last minute's hits have aged out."""
    database = Database(f"sqlite:///{tmp_path / 'limits.sqlite3'}")
    database.migrate()
    clock = FixedClock(dt.datetime(2026, 11, 24, 10, 0, 50, tzinfo=dt.UTC))
    limiter = auth.RateLimiter(database, 2, clock)
    assert limiter.check("a") == 0 and limiter.check("a") == 0
    assert limiter.check("a") == 11  # until the next minute
    assert limiter.check("b") == 0
    clock.advance(seconds=15)  # 5 s into the next minute: 3 hits of last minute still weigh
    assert limiter.check("a") > 0
    clock.advance(seconds=60)
    assert limiter.check("a") == 0
    # a second limiter on the same database (another worker) sees the same count
    clock.advance(seconds=180)
    other = auth.RateLimiter(Database(database.url), 2, clock)
    assert limiter.check("c") == 0 and other.check("c") == 0
    assert other.check("c") > 0 and limiter.check("c") > 0


def test_report_csv_has_a_row_per_metric() -> None:
    report = {"date": "2026-11-24", "on_site_now": 2, "by_kiosk": {}, "by_branch": {},
              "totals": {"cards_issued": 1, "cards_renewed": 0, "cards_replaced": 0,
                         "cards_blocked": 0, "returns": 3, "visitors": 4,
                         "fees_assessed": {"card": {"count": 1, "amount": 1000}},
                         "payments": {"cash": {"count": 1, "amount": 1000}},
                         "refunds": {"count": 0, "amount": 0}, "credited": 0}}
    lines = reports.report_csv(report).splitlines()
    assert lines[0] == "date,scope,metric,key,count,amount_fen"
    assert "2026-11-24,total,payments,cash,1,1000" in lines
    assert "2026-11-24,total,on_site_now,,2," in lines

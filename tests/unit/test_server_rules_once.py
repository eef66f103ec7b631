"""The record server applies the kiosk's rules from ``library_core.rules`` (apply.push and
auth on a temp SQLite file, no HTTP): the renewal period check it used to skip, the card block,
one active reader per ID number, and the one PIN-lockout policy (a lock that ends by itself
and lasts longer each time in a row, not until unlocked)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from library_core.clock import FixedClock
from library_core.codes import make_card_no
from library_core.fees import load_fee_schedule
from library_core.rules import PinLockout
from record_server import apply, auth
from record_server import models as m
from record_server.config import FEES_PATH
from record_server.db import Database
from record_server.grants import issue_grant
from record_server.schemas import EventEnvelope
from tests.support.server_process import KioskEvents


def lost_block(db: Database, k: KioskEvents, card: str, reader_id: str) -> dict[str, Any]:
    """A kiosk's lost-card block with the grant the server gave it for the reader."""
    block = k.env("card.blocked", {"card_no": card, "reader_id": reader_id, "reason": "lost"})
    with db.write() as conn:
        block["payload"]["reader_grant"] = issue_grant(
            conn, kiosk_id=k.kiosk_id, reader_id=reader_id,
            now=dt.datetime.fromisoformat(block["occurred_at"]))
    return block

START = dt.datetime(2026, 11, 24, 12, 0)
SCHEDULE = load_fee_schedule(FEES_PATH)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def db(tmp_path: Path, clock: FixedClock) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    database.migrate()
    auth.enroll_kiosk(database, "K01", clock)
    return database


def push(db: Database, clock: FixedClock, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    envs = [EventEnvelope.model_validate(e) for e in events]
    results, _ = apply.push(db, kiosk_id="K01", envelopes=envs, schedule=SCHEDULE, clock=clock)
    return results


def _expiry(db: Database, card_no: str) -> str:
    with db.read() as conn:
        row = conn.execute(m.cards.select().where(m.cards.c.card_no == card_no)).first()
    assert row is not None
    return str(row.expires_on)


def test_a_renewal_for_a_period_not_offered_is_rejected(db: Database, clock: FixedClock) -> None:
    """The kiosk refuses a 7-month renewal (``renewal.period``); a kiosk that sends one anyway
    is refused the same way and the card keeps its expiry (it used to be applied)."""
    assert 7 not in SCHEDULE.renewal_periods_months
    k = KioskEvents("K01")
    card = make_card_no(10**8 + 1)  # K01's range
    assert [r["status"] for r in push(db, clock, k.new_reader("r1", 1, card))] == ["applied"] * 5
    before = _expiry(db, card)
    res = push(db, clock, [k.renew(card, "r1", months=7)])
    assert (res[0]["status"], res[0]["detail"]) == ("rejected", "renewal_period_not_offered")
    assert _expiry(db, card) == before
    assert push(db, clock, k.renew_paid(card, "r1", months=24))[-1]["status"] == "applied"


def test_a_renewal_of_a_blocked_card_credits_the_kiosk_fee(db: Database, clock: FixedClock) -> None:
    k = KioskEvents("K01")
    card = make_card_no(10**8 + 2)  # K01's range
    push(db, clock, k.new_reader("r2", 2, card))
    push(db, clock, [lost_block(db, k, card, "r2")])
    res = push(db, clock, k.renew_paid(card, "r2", months=24))
    assert res[-1]["rule"] == apply.RULE_BLOCK_BEATS_RENEWAL
    with db.read() as conn:
        credit = conn.execute(m.readers.select().where(m.readers.c.reader_id == "r2")).first()
    assert credit is not None and credit.credit == SCHEDULE.renewal_fee_for(24)


def test_staff_lockout_ends_after_the_policy_minutes(db: Database, clock: FixedClock) -> None:
    auth.create_staff(db, staff_no="S0009", name="测试", role="desk", pin="246810",
                      pin_cost=2)
    for _ in range(PinLockout().max_attempts - 1):
        with pytest.raises(auth.LoginRefused) as wrong:
            auth.staff_login(db, "S0009", "975310", clock)
        assert wrong.value.reason == "wrong"
    with pytest.raises(auth.LoginRefused) as locked:
        auth.staff_login(db, "S0009", "975310", clock)
    assert locked.value.reason == "wrong"  # the fifth wrong PIN, which locks
    first = PinLockout().lock_seconds(1)
    clock.advance(seconds=first - 1)
    with pytest.raises(auth.LoginRefused) as still:
        auth.staff_login(db, "S0009", "246810", clock)  # even the right PIN, while locked
    assert still.value.reason == "locked"
    clock.advance(seconds=1)
    # the lock ended: five more wrong PINs lock it again, for the next step
    for _ in range(PinLockout().max_attempts):
        with pytest.raises(auth.LoginRefused):
            auth.staff_login(db, "S0009", "975310", clock)
    clock.advance(seconds=PinLockout().lock_seconds(2) - 1)
    with pytest.raises(auth.LoginRefused) as second:
        auth.staff_login(db, "S0009", "246810", clock)
    assert second.value.reason == "locked"
    clock.advance(seconds=1)
    token, principal, _ = auth.staff_login(db, "S0009", "246810", clock)
    assert principal.staff_no == "S0009" and token


def test_unknown_inactive_and_locked_cost_the_same_scrypt_work(
        db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refusal runs one scrypt check (at the stored cost, or the default for a staff
    number that has none) and nothing is counted for unknown, inactive or locked."""
    calls: list[str] = []
    real = auth.verify_pin
    monkeypatch.setattr(auth, "verify_pin", lambda pin, stored: calls.append(stored) or
                        real(pin, stored))
    auth.create_staff(db, staff_no="S0007", name="测试", role="desk", pin="246810", pin_cost=2)
    for staff_no, reason in (("S9999", "unknown"), ("S0007", "wrong")):
        with pytest.raises(auth.LoginRefused) as refused:
            auth.staff_login(db, staff_no, "975310", clock)
        assert refused.value.reason == reason
    assert len(calls) == 2 and calls[0].startswith("scrypt$16384$")
    with db.write() as conn:
        conn.execute(m.staff.update().where(m.staff.c.staff_no == "S0007")
                     .values(active=False))
    with pytest.raises(auth.LoginRefused) as inactive:
        auth.staff_login(db, "S0007", "246810", clock)
    assert inactive.value.reason == "inactive" and len(calls) == 3
    with db.read() as conn:
        row = conn.execute(m.staff.select().where(m.staff.c.staff_no == "S0007")).one()
    assert row.failed_attempts == 1  # the wrong PIN only


def test_a_supervisor_unlock_still_ends_a_lock_early(db: Database, clock: FixedClock) -> None:
    auth.create_staff(db, staff_no="S0008", name="测试", role="desk", pin="246810", pin_cost=2)
    for _ in range(PinLockout().max_attempts):
        with pytest.raises(auth.LoginRefused):
            auth.staff_login(db, "S0008", "975310", clock)
    assert auth.unlock_staff(db, "S0008")
    assert auth.staff_login(db, "S0008", "246810", clock)[1].staff_no == "S0008"


def test_the_kiosk_z_report_and_the_server_daily_report_count_money_alike(
        db: Database, clock: FixedClock, tmp_path: Path) -> None:
    """One business day run through every use case at a kiosk, pushed to the server: both day
    reports come from ``library_core.rules.day_metrics`` and agree on payments and refunds."""
    from record_server import reports
    from tests.support.receipts import business_day
    from tests.support.services import DESK, SUPERVISOR, ServerDbStaffAuthority, make_env
    for (staff_no, pin), role in ((DESK, "desk"), (SUPERVISOR, "supervisor")):  # the server
        auth.create_staff(db, staff_no=staff_no, name=role, role=role, pin=pin, pin_cost=2)
    # staff log in at the server, so the kiosk's staff events carry proofs it checks
    env = make_env(tmp_path / "kiosk.sqlite3", clock=clock,
                   staff_authority=ServerDbStaffAuthority(db, clock))
    try:
        business_day(env)
        kiosk = env.services.staff.end_of_day_report(env.supervisor())
        pending = env.store.pending_events(1000)
        # the catalogue and loans the kiosk pulled from the server: the server holds them
        items = [dict(r) for r in env.store.read("SELECT * FROM items")]
        loans = [dict(r, returned_at=None) for r in env.store.read("SELECT * FROM loans")]
    finally:
        env.store.close()
    with db.write() as conn:
        conn.execute(m.items.insert(), [dict(i, hold=bool(i["hold"]), status="on_loan")
                                        for i in items])
        conn.execute(m.loans.insert(), loans)
    envs = [EventEnvelope.model_validate(e) for e in pending]
    for _ in range(3):  # as the sync client does: what came back as a gap is sent again
        results, _ = apply.push(db, kiosk_id="K01", envelopes=envs, schedule=SCHEDULE,
                                clock=clock)
        envs = [e for e, r in zip(envs, results, strict=True)
                if str(r.get("detail", "")).startswith("gap")]
    assert envs == []
    with db.read() as conn:
        server = reports.daily_report(conn, dt.date.fromisoformat(kiosk.day), clock.now())
    totals = server["by_kiosk"]["K01"]
    assert {k: v["amount"] for k, v in totals["payments"].items()} == kiosk.taken_by_method
    assert sum(v["count"] for v in totals["payments"].values()) == kiosk.payments
    assert totals["refunds"] == {"count": 1, "amount": sum(kiosk.refunds_by_method.values())}
    assert kiosk.payments >= 4 and kiosk.refunds_by_method  # the day took and paid back money

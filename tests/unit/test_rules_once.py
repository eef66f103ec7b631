"""Each rule the kiosk and the record server share is written once (``library_core.rules`` or
the card service) and every caller asks it: the new-card screen and ``new_card`` agree on one
active reader per ID number, the renewal quote on screen is the use case's own terms, the UI
backend holds no SQL and no rule, one PIN-lockout policy."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from kiosk.services.common import Tender
from kiosk.services.errors import FeesOwed, PinLocked, ReaderExists
from kiosk.ui.backend import Backend
from library_core import rules
from library_core.errors import ValidationError
from library_core.fees import add_months
from library_core.identity import id_number_hash, mask_resident_id
from library_core.money import format_fen
from tests.support.services import (
    TEST_KEY,
    WECHAT_CODE,
    ServicesEnv,
    make_reader,
    services_env,  # noqa: F401
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(services_env: ServicesEnv) -> ServicesEnv:  # noqa: F811
    return services_env


def _backend(env: ServicesEnv) -> Backend:
    s = env.services
    return Backend(settings=None, clock=env.clock, store=env.store,
                   services={"cards": s.cards, "fees": s.fees, "returns": s.returns,
                             "visitors": s.visitors, "staff": s.staff,
                             "fee_schedule": s.fee_schedule},
                   card_reader=env.writer, scanner=None, printer=None, parser=None)


def test_an_id_number_pulled_without_a_card_is_refused_on_screen_as_by_new_card(
        env: ServicesEnv) -> None:
    """A reader registered at another kiosk arrives by pull before its card: the screen used
    to let the form go on (it looked for a live card) and ``new_card`` refused at the end."""
    reader = make_reader(4)
    env.store.apply_pulled_page([{"entity": "reader", "id": "r-other", "data": {
        "reader_id": "r-other", "name": "周八",
        "id_hash": id_number_hash(reader.id_number, TEST_KEY),
        "id_masked": mask_resident_id(reader.id_number), "phone_masked": "139****0004",
        "category": "adult", "status": "active", "credit": 0,
        "registered_at": "2026-11-20T10:00:00+08:00"}}], 1)
    backend = _backend(env)
    with pytest.raises(ReaderExists) as on_screen:
        backend.check_new_reader(reader.id_number)
    assert on_screen.value.params["has_live_card"] is False
    env.writer.place_blank()
    with pytest.raises(ReaderExists):
        env.services.cards.new_card(reader, Tender.payment_code(WECHAT_CODE))
    # a free number passes both
    backend.check_new_reader(make_reader(5).id_number)


def test_an_active_reader_with_a_card_is_refused_by_both(env: ServicesEnv) -> None:
    env.new_card(1)
    with pytest.raises(ReaderExists) as info:
        _backend(env).check_new_reader(make_reader(1).id_number)
    assert info.value.params["has_live_card"] is True


def test_the_renewal_quote_is_what_renew_charges_and_sets(env: ServicesEnv) -> None:
    env.new_card(1)
    backend = _backend(env)
    uid, raw = env.writer.tapped()
    card = backend.read_card(uid)
    quote = backend.check_renewal(card, 24)
    result = env.services.cards.renew(uid, raw, 24, Tender.payment_code(WECHAT_CODE))
    assert (quote.fee, quote.new_expires_on) == (result.amount, result.expires_on)
    assert quote.new_expires_on == add_months(card.expires_on, 24)
    with pytest.raises(ValidationError) as bad:
        backend.check_renewal(card, 7)
    assert bad.value.message_id == "renewal.period"


def test_fees_owed_refuse_the_quote_and_the_renewal_alike(env: ServicesEnv) -> None:
    result = env.new_card(1)
    limit = env.config.fees.renewal_refused_above
    with env.store.transaction() as tx:  # a fine above the limit, as a return would assess it
        tx.insert("fees", {"fee_id": "f-big", "reader_id": result.reader_id, "kind": "overdue",
                           "amount": limit + 1, "paid": 0, "status": "open",
                           "description": "", "created_at": env.clock.now()})
    backend = _backend(env)
    uid, raw = env.writer.tapped()
    card = backend.read_card(uid)
    with pytest.raises(FeesOwed) as on_screen:
        backend.check_renewal(card, 12)
    with pytest.raises(FeesOwed) as in_use_case:
        env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    assert on_screen.value.params == in_use_case.value.params
    assert on_screen.value.params["owed"] == limit + 1


def test_new_card_prices_on_screen_come_from_the_card_service(env: ServicesEnv) -> None:
    backend = _backend(env)
    fees = env.config.fee_schedule().for_category("adult")
    assert backend.new_card_prices("adult") == (fees.card_fee, fees.deposit)
    env.writer.place_blank()
    result = env.services.cards.new_card(make_reader(2), Tender.payment_code(WECHAT_CODE))
    assert result.amount == sum(backend.new_card_prices("adult"))


_SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b|\bsqlite3\b")


def _sql_in(package: str) -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py")
                  if _SQL.search(p.read_text(encoding="utf-8")))


def test_the_ui_holds_no_sql() -> None:
    assert _sql_in("kiosk/ui") == []


def test_the_use_cases_hold_no_sql() -> None:
    """Every use case asks its repositories (``kiosk.services.ports``); the SQL is in
    ``server_client.store.repositories``."""
    assert _sql_in("kiosk/services") == []


def test_a_read_only_view_refuses_writes(env: ServicesEnv) -> None:
    from library_core.errors import StoreError

    before = env.counts()
    with env.store.repositories().read() as view, pytest.raises(StoreError):
        view.audit.append(at=env.clock.now(), actor="x", action="hostile.write")
    assert env.counts() == before


def test_the_ui_backend_holds_no_fee_or_reader_rule() -> None:
    """The backend and its flow helpers (``kiosk/ui/flows``): no fee, reader or day-report rule,
    no audit action named here (the staff service names and writes each)."""
    paths = [ROOT / "kiosk/ui/backend.py", *sorted((ROOT / "kiosk/ui/flows").glob("*.py"))]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for rule in ("renewal_refused_above", "add_months", "for_category", "renewal_fee_for",
                     "status IN", "tx.audit", "record_desk_action", "taken_by_method.values"):
            assert rule not in text, (path.name, rule)


def test_desk_actions_are_audited_by_named_staff_use_cases(env: ServicesEnv) -> None:
    desk = env.desk()
    before = env.store.count("audit_log")
    env.services.staff.diagnostics_viewed(desk)
    env.services.staff.receipt_reprinted(desk, "K01-20261124-0001", printed=False,
                                         reason="printer.offline")
    rows = env.store.read("SELECT actor, action, subject, detail FROM audit_log ORDER BY id")
    assert [(r["actor"], r["action"], r["subject"]) for r in rows[before:]] == [
        ("S0001", "device.diagnostics", ""), ("S0001", "receipt.reprinted", "K01-20261124-0001")]
    assert '"printer.offline"' in rows[-1]["detail"] and "false" in rows[-1]["detail"]


def test_the_close_day_preview_total_is_the_z_reports(env: ServicesEnv) -> None:
    env.new_card(1)
    desk = env.desk()
    env.writer.place_blank()
    env.services.cards.new_card(make_reader(2, category="student"), Tender.cash_by(desk))
    sup = env.supervisor()
    preview = dict(_backend(env).close_day_preview(sup))
    _report, receipt = env.services.staff.close_day(sup)
    assert receipt.total == 16500
    assert preview["staff.close_day.total"] == {"amount": format_fen(receipt.total)}


# ---- the rules themselves -----------------------------------------------------------------

def test_holder_of_an_id_number_is_the_first_active_unmerged_reader() -> None:
    R = rules.ReaderRecord
    assert rules.holder_of_id_number([]) is None
    assert rules.holder_of_id_number([R("a", "cancelled", "2026-01-01")]) is None
    readers = [R("b", "active", "2026-02-01"), R("a", "active", "2026-01-01", merged_into="x"),
               R("c", "active", "2026-01-15")]
    holder = rules.holder_of_id_number(readers)
    assert holder is not None and holder.reader_id == "c"


@pytest.mark.parametrize(("current", "reason", "after"), [
    ("active", "lost", "lost"), ("active", "cancelled", "cancelled"),
    ("lost", "cancelled", "cancelled"), ("lost", "lost", None),
    ("cancelled", "lost", None), ("replaced", "cancelled", None)])
def test_what_a_block_does_to_a_card(current: str, reason: str, after: str | None) -> None:
    assert rules.blocked_status(current, reason) == after


def test_a_block_for_another_reason_is_refused() -> None:
    with pytest.raises(ValueError):
        rules.blocked_status("active", "stolen")


def test_the_pin_lockout_policy_locks_on_the_fifth_and_expires() -> None:
    policy = rules.PinLockout()
    now = dt.datetime(2026, 11, 24, 10, 0)
    state = rules.PinState(0)
    for _ in range(4):
        state = policy.after_wrong(state.failures, now)
        assert state.locked_until is None
    state = policy.after_wrong(state.failures, now)
    assert state == rules.PinState(5, now + dt.timedelta(minutes=1))
    assert policy.locked(state.locked_until, now + dt.timedelta(seconds=59))
    assert not policy.locked(state.locked_until, now + dt.timedelta(minutes=1))
    assert (policy.attempts_left(state.failures), policy.lockouts(state.failures)) == (5, 1)


def test_the_pin_lockout_backs_off_to_a_day() -> None:
    """Each lockout in a row lasts longer: 1, 5, 15, 60 minutes, then doubling, capped at a
    day; wrong PINs between lockouts count on (the count is only cleared by a right PIN)."""
    policy = rules.PinLockout()
    now = dt.datetime(2026, 11, 24, 10, 0)
    failures, lengths = 0, []
    for _ in range(11):
        for n in range(policy.max_attempts):
            state = policy.after_wrong(failures, now)
            failures = state.failures
            assert (state.locked_until is None) == (n < policy.max_attempts - 1)
        assert state.locked_until is not None
        lengths.append(int((state.locked_until - now).total_seconds()) // 60)
    assert lengths == [1, 5, 15, 60, 120, 240, 480, 960, 1440, 1440, 1440]
    assert policy.lock_seconds(10_000) == rules.PIN_LOCKOUT_CAP_S  # no overflow, still a day
    assert rules.PinLockout(steps_s=(2, 6)).lock_seconds(3) == 12


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"steps_s": ()},
                                    {"steps_s": (60, 0)}, {"cap_s": 0}])
def test_a_lockout_policy_that_locks_nothing_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        rules.PinLockout(**kwargs)


def test_the_kiosk_uses_the_core_lockout_policy(env: ServicesEnv) -> None:
    env.new_card(1)
    reader = make_reader(1)
    for _ in range(rules.PinLockout().max_attempts - 1):
        with pytest.raises(Exception):  # noqa: B017,PT011 - PinWrong
            env.services.cards.verify_reader(reader.id_number, "975310")
    with pytest.raises(PinLocked) as info:
        env.services.cards.verify_reader(reader.id_number, "975310")
    first = rules.PinLockout().lock_seconds(1)
    assert info.value.params["minutes"] == first // 60
    env.clock.advance(seconds=first)
    assert env.services.cards.verify_reader(reader.id_number, reader.pin).reader_id


def test_the_kiosk_backs_off_like_the_server(env: ServicesEnv) -> None:
    """The kiosk's reader PIN lock (same policy) lasts longer the second time in a row."""
    env.new_card(1)
    reader = make_reader(1)
    policy = rules.PinLockout()
    for lockout in (1, 2):
        for _ in range(policy.max_attempts - 1):
            with pytest.raises(Exception):  # noqa: B017,PT011 - PinWrong
                env.services.cards.verify_reader(reader.id_number, "975310")
        with pytest.raises(PinLocked) as info:
            env.services.cards.verify_reader(reader.id_number, "975310")
        assert info.value.params["minutes"] == policy.lock_seconds(lockout) // 60
        with pytest.raises(PinLocked):  # a wrong PIN while locked does not unlock
            env.services.cards.verify_reader(reader.id_number, "975310")
        env.clock.advance(seconds=policy.lock_seconds(lockout))


def _day(payments: list[Any]) -> rules.DayMetrics:
    return rules.day_metrics(payments)


def test_day_metrics_count_and_sum_by_method() -> None:
    P = rules.PaymentRecord
    m = _day([P("payment", "wechat", 500), P("payment", "cash", 300), P("refund", "cash", 100),
              P("payment", "cash", 200)])
    assert (m.payments, m.refunds) == (3, 1)
    assert m.taken_by_method == {"cash": 500, "wechat": 500}
    assert m.refunds_by_method == {"cash": 100}
    assert (m.taken_total, m.cash_expected()) == (1000, 400)

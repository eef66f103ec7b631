"""Each use case, failed at each step, leaves nothing behind.

For every use case: the payment refused, the card write failing, and a store error injected at
every single SQL statement the use case runs (one attempt per statement, until it succeeds).
After each failure the business tables are exactly as before (no reader, card, fee, payment,
receipt, visit or outbox event), no money is kept by the gateway, and the audit chain verifies.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiosk.services.common import Tender
from library_core.errors import DeviceError, PaymentError, StoreError
from tests.support.services import (
    REFUSED_CODE,
    WECHAT_CODE,
    ServicesEnv,
    make_env,
    make_reader,
)


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[ServicesEnv], Any]
    run: Callable[[ServicesEnv, Any, Tender], Any]
    paid: bool = True
    writes_card: bool = False


def _setup_none(env: ServicesEnv) -> Any:
    env.writer.place_blank()
    return None


def _new_card(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    return env.services.cards.new_card(make_reader(7), tender)


def _setup_card(env: ServicesEnv) -> Any:
    env.new_card(1)
    return env.writer.tapped()


def _renew(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    uid, raw = ctx
    return env.services.cards.renew(uid, env.writer.cards[uid], 12, tender)


def _setup_replace(env: ServicesEnv) -> Any:
    env.new_card(1)
    auth = env.services.cards.verify_reader(make_reader(1).id_number, make_reader(1).pin)
    env.services.cards.report_lost(auth)  # the block is its own committed step
    env.writer.place_blank()
    return auth


def _replace(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    return env.services.cards.replace(ctx, tender)


def _setup_fees(env: ServicesEnv) -> Any:
    result = env.new_card(1)
    barcode = env.add_item(1, "红楼梦")
    env.add_loan(result.reader_id, barcode, due_on=env.clock.now().date() - dt.timedelta(days=12))
    env.services.returns.check_in(barcode)
    return result.reader_id


def _pay(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    return env.services.fees.pay(ctx, tender)


def _setup_return(env: ServicesEnv) -> Any:
    result = env.new_card(1)
    barcode = env.add_item(2, "Dream of the Red Chamber", hold=True)
    env.add_loan(result.reader_id, barcode, due_on=env.clock.now().date() - dt.timedelta(days=3))
    return barcode


def _return(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    # each scan is its own transaction: a later failure never undoes an earlier check-in
    return env.services.returns.check_in(ctx)


def _setup_return_receipt(env: ServicesEnv) -> Any:
    session = env.services.returns.start()
    session.scan(_setup_return(env))
    session.scan("39999999999995")  # unknown: listed on the receipt as "hand it to the desk"
    return session


def _return_receipt(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    return ctx.finish()


def _visitor(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    from kiosk.services.visitors import VisitorRequest

    return env.services.visitors.register(VisitorRequest(
        name="赵六", phone="13900001111", purpose="参观", host_department="办公室", consent=True))


def _setup_waive(env: ServicesEnv) -> Any:
    reader_id = _setup_fees(env)
    fee = env.services.fees.open_fees(reader_id)[0]
    return env.supervisor(), fee.fee_id


def _waive(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    session, fee_id = ctx
    return env.services.staff.waive_fee(session, fee_id, "first time")


def _setup_cancel(env: ServicesEnv) -> Any:
    result = env.new_card(1)
    return env.supervisor(), result.reader_id


def _cancel(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    session, reader_id = ctx
    return env.services.staff.refund_deposit_and_cancel(session, reader_id, "moving away")


def _setup_close(env: ServicesEnv) -> Any:
    env.new_card(1)
    return env.supervisor()


def _close_day(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    return env.services.staff.close_day(ctx)


def _roster(env: ServicesEnv, ctx: Any, tender: Tender) -> Any:
    _visitor(env, None, tender)
    return None


CASES = [
    Case("new_card", _setup_none, _new_card, writes_card=True),
    Case("renewal", _setup_card, _renew, writes_card=True),
    Case("replacement", _setup_replace, _replace, writes_card=True),
    Case("fee_payment", _setup_fees, _pay),
    Case("returns", _setup_return, _return, paid=False),
    Case("returns_receipt", _setup_return_receipt, _return_receipt, paid=False),
    Case("visitor", _setup_none, _visitor, paid=False),
    Case("fee_waiver", _setup_waive, _waive, paid=False),
    Case("deposit_refund_cancel", _setup_cancel, _cancel, paid=False),
    Case("close_day", _setup_close, _close_day, paid=False),
]


def _assert_nothing_left(env: ServicesEnv, before: dict[str, Any], kept_before: int) -> None:
    assert env.snapshot() == before
    assert env.gateway.net_taken() == kept_before, "money taken and not given back"
    check = env.store.verify_audit_chain()
    assert check.ok, check
    assert env.store.integrity_check() == ["ok"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_store_error_at_every_step_leaves_nothing(case: Case, tmp_path: Path) -> None:
    env = make_env(tmp_path / "s.db")
    ctx = case.setup(env)
    tender = Tender.payment_code(WECHAT_CODE)
    step = 0
    calls = 0
    failures = 0

    def hook(sql: str) -> None:
        nonlocal calls
        calls += 1
        if calls == step:
            raise sqlite3.OperationalError(f"injected failure at statement {step}: {sql[:40]}")

    for step in range(1, 500):  # noqa: B007 (read by hook)
        before = env.snapshot()
        kept = env.gateway.net_taken()
        calls = 0
        env.store.fault_hook = hook
        try:
            result = case.run(env, ctx, tender)
        except StoreError as err:
            assert "injected failure" in str(err)
            env.store.fault_hook = None
            _assert_nothing_left(env, before, kept)
            failures += 1
            continue
        finally:
            env.store.fault_hook = None
        break
    else:
        pytest.fail("use case never succeeded")
    # the last run succeeded: it did change the store, after failing at every earlier statement
    assert failures >= 5, f"only {failures} failure points"
    assert env.snapshot() != before
    assert result is not None or case.name == "fee_waiver"
    assert env.store.verify_audit_chain().ok


@pytest.mark.parametrize("case", [c for c in CASES if c.paid], ids=lambda c: c.name)
def test_payment_refused_leaves_nothing(case: Case, tmp_path: Path) -> None:
    env = make_env(tmp_path / "s.db")
    ctx = case.setup(env)
    before, kept = env.snapshot(), env.gateway.net_taken()
    with pytest.raises(PaymentError) as info:
        case.run(env, ctx, Tender.payment_code(REFUSED_CODE))
    assert info.value.message_id == "payment.refused"
    _assert_nothing_left(env, before, kept)
    for how in ("timeout", "failed"):
        env.gateway.fail_next(how)
        with pytest.raises(PaymentError) as info:
            case.run(env, ctx, Tender.payment_code(WECHAT_CODE))
        assert info.value.message_id == f"payment.{how}"
        _assert_nothing_left(env, before, kept)


@pytest.mark.parametrize("case", [c for c in CASES if c.writes_card], ids=lambda c: c.name)
def test_card_write_failure_refunds_and_leaves_nothing(case: Case, tmp_path: Path) -> None:
    env = make_env(tmp_path / "s.db")
    ctx = case.setup(env)
    before, kept = env.snapshot(), env.gateway.net_taken()
    charges_before = len(env.gateway.charges)
    env.writer.fail_write = True
    with pytest.raises(DeviceError):
        case.run(env, ctx, Tender.payment_code(WECHAT_CODE))
    assert len(env.gateway.charges) == charges_before + 1, "the charge came before the write"
    assert env.gateway.refunds[-1] == env.gateway.charges[-1]
    _assert_nothing_left(env, before, kept)
    env.writer.fail_write = False
    case.run(env, ctx, Tender.payment_code(WECHAT_CODE))
    assert env.snapshot() != before


def test_cash_without_staff_is_refused_before_anything(tmp_path: Path) -> None:
    env = make_env(tmp_path / "s.db")
    env.writer.place_blank()
    before = env.snapshot()
    with pytest.raises(PaymentError) as info:
        env.services.cards.new_card(make_reader(3), Tender(cash=True))
    assert info.value.message_id == "payment.cash_staff_only"
    assert env.snapshot() == before
    assert env.gateway.attempts == 0
    result = env.services.cards.new_card(make_reader(3), Tender.cash_by(env.desk()))
    row = env.store.read_one("SELECT method, staff_no FROM payments WHERE reader_id = ?",
                             (result.reader_id,))
    assert tuple(row) == ("cash", "S0001")


def test_failed_refund_is_logged_and_original_error_raised(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    env = make_env(tmp_path / "s.db")
    env.writer.place_blank()
    env.writer.fail_write = True
    env.gateway.refunds_fail()
    with pytest.raises(DeviceError):
        env.services.cards.new_card(make_reader(4), Tender.payment_code(WECHAT_CODE))
    assert any("REFUND FAILED" in r.message for r in caplog.records)
    assert env.store.count("readers") == 0

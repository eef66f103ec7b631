"""Fee payment, returns, visitors and staff use cases against a real SQLite store."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kiosk.services.common import Role, Tender
from kiosk.services.errors import FeesOwed, RoleRequired
from kiosk.services.returns import ReturnOutcome
from kiosk.services.staff_auth import StaffLoginRefused
from kiosk.services.visitors import VisitorRequest
from library_core.errors import DomainError, NotFound, TokenError, ValidationError
from tests.support.services import (
    ALIPAY_CODE,
    DESK,
    WECHAT_CODE,
    ServicesEnv,
    make_reader,
    services_env,  # noqa: F401
)


@pytest.fixture
def env(services_env: ServicesEnv) -> ServicesEnv:  # noqa: F811
    return services_env


def _kinds(env: ServicesEnv) -> list[str]:
    return [r[0] for r in env.store.read("SELECT kind FROM outbox ORDER BY seq")]


def _overdue_reader(env: ServicesEnv, days: tuple[int, ...]) -> tuple[str, list[str]]:
    reader_id = env.new_card(1).reader_id
    barcodes = []
    for i, late in enumerate(days):
        env.clock.advance(minutes=1)
        barcode = env.add_item(100 + i, f"书{i}")
        env.add_loan(reader_id, barcode, due_on=env.clock.now().date() - dt.timedelta(days=late))
        env.services.returns.check_in(barcode)
        barcodes.append(barcode)
    return reader_id, barcodes


# -- fees ------------------------------------------------------------------------------------

def test_partial_payment_allocates_oldest_first(env: ServicesEnv) -> None:
    reader_id, _ = _overdue_reader(env, (5, 8, 3))  # fines 50, 80, 30 fen
    fees = env.services.fees.open_fees(reader_id)
    assert [f.amount for f in fees] == [50, 80, 30]
    result = env.services.fees.pay(reader_id, Tender.payment_code(ALIPAY_CODE), amount=100)
    assert result.allocations == ((fees[0].fee_id, 50), (fees[1].fee_id, 50))
    left = env.services.fees.open_fees(reader_id)
    assert [(f.fee_id, f.due) for f in left] == [(fees[1].fee_id, 30), (fees[2].fee_id, 30)]
    assert result.receipt.payment_method == "alipay" and result.receipt.total == 100
    # chosen fees, paid in full
    env.services.fees.pay(reader_id, Tender.payment_code(WECHAT_CODE), fee_ids=[fees[2].fee_id])
    assert [f.fee_id for f in env.services.fees.open_fees(reader_id)] == [fees[1].fee_id]
    with pytest.raises(ValidationError, match="payment.too_much"):
        env.services.fees.pay(reader_id, Tender.payment_code(WECHAT_CODE), amount=31)
    with pytest.raises(NotFound, match="fee.not_open"):
        env.services.fees.pay(reader_id, Tender.payment_code(WECHAT_CODE), fee_ids=[fees[0].fee_id])
    env.services.fees.pay(reader_id, Tender.payment_code(WECHAT_CODE))
    with pytest.raises(ValidationError, match="payment.nothing_due"):
        env.services.fees.pay(reader_id, Tender.payment_code(WECHAT_CODE))
    pays = [json.loads(r[0]) for r in env.store.read(
        "SELECT payload FROM outbox WHERE kind = 'payment.recorded' ORDER BY seq")]
    assert [p["amount"] for p in pays][1:] == [100, 30, 30]
    assert env.gateway.net_taken() == 11000 + 160


def test_bad_payment_code_is_refused_before_the_gateway(env: ServicesEnv) -> None:
    reader_id, _ = _overdue_reader(env, (5,))
    attempts = env.gateway.attempts
    with pytest.raises(ValidationError, match="payment.code_invalid"):
        env.services.fees.pay(reader_id, Tender.payment_code("99887766"))
    assert env.gateway.attempts == attempts


# -- returns ---------------------------------------------------------------------------------

def test_returns_batch_idempotent_fine_hold_unknown(env: ServicesEnv) -> None:
    reader_id = env.new_card(1).reader_id
    late = env.add_item(1, "红楼梦")
    held = env.add_item(2, "The Hobbit", hold=True)
    idle = env.add_item(3, "活着")
    today = env.clock.now().date()
    env.add_loan(reader_id, late, due_on=today - dt.timedelta(days=4))
    env.add_loan(reader_id, held, due_on=today + dt.timedelta(days=4))
    session = env.services.returns.start()
    r1 = session.scan(late)
    assert (r1.outcome, r1.title, r1.fine, r1.days_overdue) == (ReturnOutcome.RETURNED, "红楼梦", 40, 4)
    assert session.scan(late).outcome is ReturnOutcome.ALREADY_RETURNED
    r3 = session.scan(held)
    assert r3.hold and r3.fine == 0
    unknown = session.scan("30000000099990")
    assert unknown.outcome is ReturnOutcome.UNKNOWN_ITEM and unknown.to_desk
    assert session.scan("not a barcode").message_id == "return.unknown_item"
    assert session.scan(idle).message_id == "return.not_on_loan"
    # a second session (another reader at the station) cannot return it twice either
    assert env.services.returns.start().scan(late).outcome is ReturnOutcome.ALREADY_RETURNED
    receipt = session.finish()
    assert receipt is not None and receipt.total == 40
    assert [line.text for line in receipt.lines if line.text][:2] == ["红楼梦", "红楼梦"]
    assert any(line.key == "receipt.line.hold" for line in receipt.lines)
    assert _kinds(env).count("loan.returned") == 2 and _kinds(env).count("fee.assessed") == 3
    fine = [f for f in env.services.fees.open_fees(reader_id)]
    assert [(f.kind, f.amount) for f in fine] == [("overdue", 40)]
    assert env.store.count("loans", "returned_at IS NULL") == 0
    assert env.services.returns.start().finish() is None


# -- visitors --------------------------------------------------------------------------------

def _visitor(name: str = "赵六", consent: bool = True) -> VisitorRequest:
    return VisitorRequest(name=name, phone="13900001111", purpose="参观", host_department="办公室",
                          consent=consent, id_number="")


def test_visitor_register_sign_out_roster_and_auto_close(env: ServicesEnv) -> None:
    visitors = env.services.visitors
    with pytest.raises(ValidationError, match="visitor.consent_required"):
        visitors.register(_visitor(consent=False))
    assert env.store.count("visitors") == 0
    a = visitors.register(_visitor("赵六"))
    b = visitors.register(_visitor("钱七"))
    assert a.visit.expires_at == dt.datetime(2026, 11, 24, 21, 0, tzinfo=env.clock.now().tzinfo)
    assert a.receipt.qr_data == a.pass_text and a.receipt.phone_masked == "139****1111"
    assert [v.visit_id for v in visitors.roster()] == ["K01-V000001", "K01-V000002"]
    out = visitors.sign_out(a.pass_text)
    assert not out.already_closed and out.visit.closed_how == "scanned"
    assert visitors.sign_out(a.pass_text).already_closed
    with pytest.raises(TokenError):
        visitors.sign_out(a.pass_text[:-2] + "AA")
    roster = visitors.roster_receipt(env.desk())
    assert dict(roster.fields)["receipt.field.on_site"] == "1"
    env.clock.set(dt.datetime(2026, 11, 24, 20, 59))
    assert visitors.auto_close() == 0
    env.clock.set(dt.datetime(2026, 11, 24, 21, 0))
    assert visitors.auto_close() == 1 and visitors.roster() == []
    closed = [json.loads(r[0]) for r in env.store.read(
        "SELECT payload FROM outbox WHERE kind = 'visit.closed' ORDER BY seq")]
    assert [c["how"] for c in closed] == ["scanned", "auto"]
    assert b.visit.visit_id == closed[1]["visit_id"]
    with pytest.raises(DomainError, match="visitor.closed"):
        visitors.register(_visitor())


# -- staff -----------------------------------------------------------------------------------

def test_staff_login_by_number_or_card_and_lockout(env: ServicesEnv) -> None:
    staff = env.services.staff
    session = staff.login("s0001", DESK[1])
    assert session.role is Role.DESK and session.staff_no == "S0001"
    assert staff.login("20000000000014", DESK[1]).staff_no == "S0001"  # the staff card
    # the record server checks the PIN: unknown, wrong and locked are one answer
    for _ in range(5):
        with pytest.raises(StaffLoginRefused) as wrong:
            staff.login("S0001", "999999")
    with pytest.raises(StaffLoginRefused) as unknown:
        staff.login("S9999", "246810")
    with pytest.raises(StaffLoginRefused) as locked:
        staff.login("S0001", DESK[1])  # the right PIN, after five wrong ones
    assert {wrong.value.message_id, unknown.value.message_id, locked.value.message_id} == {
        "staff.login_refused"}
    assert env.store.audit_entries(1)[0]["action"] == "staff.login"  # the last one that got in


def test_supervisor_only_actions(env: ServicesEnv) -> None:
    reader_id, _ = _overdue_reader(env, (5,))
    desk = env.desk()
    fee = env.services.fees.open_fees(reader_id)[0]
    for action in (lambda: env.services.staff.waive_fee(desk, fee.fee_id, "x"),
                   lambda: env.services.staff.refund_deposit_and_cancel(desk, reader_id, "x"),
                   lambda: env.services.staff.close_day(desk)):
        with pytest.raises(RoleRequired) as info:
            action()
        assert info.value.message_id == "staff.role_required"
    sup = env.supervisor()
    with pytest.raises(FeesOwed, match="fees.owed_pay_first"):
        env.services.staff.refund_deposit_and_cancel(sup, reader_id, "leaving")
    env.services.staff.waive_fee(sup, fee.fee_id, "first time")
    with pytest.raises(DomainError, match="fee.not_open"):
        env.services.staff.waive_fee(sup, fee.fee_id, "again")
    waived = env.store.audit_entries(1)[0]
    assert (waived["actor"], waived["action"]) == ("S0002", "fee.waived")
    result = env.services.staff.refund_deposit_and_cancel(sup, reader_id, "leaving")
    assert result.deposit_refunded == 10000 and result.receipt.total == 10000
    kinds = _kinds(env)
    assert kinds[-3:] == ["card.blocked", "card.cancelled", "deposit.refunded"]


def test_end_of_day_report_and_close_day(env: ServicesEnv) -> None:
    env.new_card(1)  # wechat 11000: deposit 10000 + card 1000
    desk = env.desk()
    env.writer.place_blank()
    r2 = env.services.cards.new_card(make_reader(2, category="student"), Tender.cash_by(desk))
    barcode = env.add_item(9)
    env.add_loan(r2.reader_id, barcode, due_on=env.clock.now().date() - dt.timedelta(days=2))
    env.services.returns.check_in(barcode)
    env.services.fees.pay(r2.reader_id, Tender.cash_by(desk))
    env.services.visitors.register(_visitor())
    sup = env.supervisor()
    env.services.staff.refund_deposit_and_cancel(sup, r2.reader_id, "moving")
    report = env.services.staff.end_of_day_report(desk)
    assert (report.cards_issued, report.returns, report.visitors, report.cards_cancelled) == (2, 1, 1, 1)
    assert report.fees_by_kind == {"card": 1500, "deposit": 15000, "overdue": 20}
    assert report.taken_by_method == {"cash": 5520, "wechat": 11000}
    assert report.refunds_by_method == {"cash": 5000}
    assert report.cash_expected == 520 and report.fines_assessed == 20
    closed, receipt = env.services.staff.close_day(sup)
    assert closed == report
    assert receipt.kind == "end_of_day" and env.store.receipt(receipt.receipt_no) == receipt
    day_event = env.store.pending_events(100)[-1]
    assert day_event["kind"] == "day.closed" and day_event["payload"]["report"]["cash_expected"] == 520
    with pytest.raises(DomainError, match="day.already_closed"):
        env.services.staff.close_day(sup)
    assert env.store.verify_audit_chain().ok

"""Handlers for fees and money: fee assessed or waived, payment recorded, deposit refunded.

Money claims are re-checked with the kiosk's rules (``library_core.rules``): a payment allocates
exactly its amount to real fees of its reader, each at most the fee's amount (what a fee paid
meanwhile elsewhere cannot take becomes credit: ``double_payment_becomes_credit``); credit is
never spent below 0; cash is taken by desk staff; a waiver is a supervisor's, of an open fee; a
deposit refund is a supervisor's, at most the deposit held, once the reader's cards are
cancelled. A payment is not under an id the payment recovery keeps for itself, and the
provider trade it names is booked once (``ingest.trades``).
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from library_core import contract as c
from library_core.fees import FeeKind
from library_core.rules import (
    ACTION_CASH,
    ACTION_DESK,
    ACTION_REFUND,
    ACTION_WAIVE,
    CARD_CANCELLED,
    credit_refusal,
    deposit_refund_refusal,
    payment_refusal,
)
from record_server import models as m
from record_server.ingest.context import (
    Context,
    Reject,
    local_day,
    resolve_reader,
    staff_or_reject,
)
from record_server.ingest.numbering import check_receipt_no
from record_server.ingest.rules import RULE_DOUBLE_PAYMENT, RULE_RETURN_AFTER_RENEWAL
from record_server.ingest.statements import ADD_CREDIT, by_key, insert_into, update_by_key
from record_server.ingest.trades import refuse_booked_trade, refuse_reserved_id

_DEPOSIT_PAID = select(func.coalesce(func.sum(m.fees.c.paid), 0)).where(
    m.fees.c.reader_id == bindparam("reader_id"), m.fees.c.kind == str(FeeKind.DEPOSIT))
_REFUNDED = select(func.coalesce(func.sum(m.payments.c.amount), 0)).where(
    m.payments.c.reader_id == bindparam("reader_id"), m.payments.c.kind == "refund")
_CARD_STATUSES_BY_NO = select(m.cards.c.card_no, m.cards.c.status).where(
    m.cards.c.reader_id == bindparam("reader_id"))
_CREDIT = select(m.readers.c.credit).where(m.readers.c.reader_id == bindparam("reader_id"))


def fee_assessed(ctx: Context, p: c.FeeAssessed) -> None:
    reader_id = resolve_reader(ctx, p.reader_id)
    if by_key(ctx.conn, m.fees, m.fees.c.fee_id, p.fee_id) is not None:
        raise Reject("fee_exists")
    amount = p.amount
    if p.loan_id and p.kind == "overdue":
        loan = by_key(ctx.conn, m.loans, m.loans.c.loan_id, p.loan_id)
        if loan is not None and loan.fine_allowed is not None and amount > loan.fine_allowed:
            amount = int(loan.fine_allowed)
            ctx.conflict(RULE_RETURN_AFTER_RENEWAL, "fee", p.fee_id,
                         f"fine lowered from {p.amount} to {amount} fen (loan was renewed)",
                         loan_id=p.loan_id, kiosk_amount=p.amount, amount=amount)
    insert_into(ctx.conn, m.fees, dict(
        fee_id=p.fee_id, reader_id=reader_id, kind=p.kind, amount=amount, paid=0,
        status="paid" if amount == 0 else "open", description=p.description,
        created_at=ctx.occurred_at.isoformat(), loan_id=p.loan_id, item_barcode=p.item_barcode))
    ctx.touch("fee", p.fee_id)


def fee_waived(ctx: Context, p: c.FeeWaived) -> None:
    staff_or_reject(ctx, p.staff_no, ACTION_WAIVE)
    fee = by_key(ctx.conn, m.fees, m.fees.c.fee_id, p.fee_id)
    if fee is None:
        raise Reject("unknown_fee")
    if resolve_reader(ctx, p.reader_id) != fee.reader_id:
        raise Reject("fee_not_of_reader")
    if fee.status == "paid":
        raise Reject("fee_already_paid")
    if fee.status == "open":
        update_by_key(ctx.conn, m.fees, m.fees.c.fee_id, p.fee_id, status="waived")
        ctx.touch("fee", p.fee_id)


def payment_recorded(ctx: Context, p: c.PaymentRecorded) -> None:
    conn = ctx.conn
    check_receipt_no(ctx, p.receipt_no)
    refuse_reserved_id(p.payment_id)  # the recovery's ids (ingest.trades)
    if by_key(conn, m.payments, m.payments.c.payment_id, p.payment_id) is not None:
        raise Reject("payment_exists")
    if by_key(conn, m.payments, m.payments.c.receipt_no, p.receipt_no) is not None:
        raise Reject("receipt_no_exists")
    if sum(a.amount for a in p.allocations) > p.amount:
        raise Reject("allocations_exceed_amount")
    refusal = payment_refusal(p.amount, (a.amount for a in p.allocations))
    if refusal is not None:
        raise Reject(refusal)
    if p.method == "cash":
        staff_or_reject(ctx, p.staff_no, ACTION_CASH)
    elif p.staff_no:
        staff_or_reject(ctx, p.staff_no, ACTION_DESK)
    reader_id = resolve_reader(ctx, p.reader_id) if p.reader_id else None
    excess_total = 0
    doubled: list[str] = []
    fees = [by_key(conn, m.fees, m.fees.c.fee_id, alloc.fee_id) for alloc in p.allocations]
    if any(fee is None for fee in fees):
        raise Reject("unknown_fee")
    owners = {fee.reader_id for fee in fees}
    if reader_id is None and len(owners) == 1:
        reader_id = next(iter(owners))
    if owners != {reader_id}:
        raise Reject("fee_not_of_reader")
    if any(alloc.amount > fee.amount for alloc, fee in zip(p.allocations, fees, strict=True)):
        raise Reject("allocation_exceeds_fee")
    refuse_booked_trade(ctx, p.method, p.transaction_id, p.out_trade_no)  # money in once
    if p.method == "credit":
        credit = int(conn.execute(_CREDIT, {"reader_id": reader_id}).scalar_one())
        refusal = credit_refusal(credit, p.amount)
        if refusal is not None:
            raise Reject(refusal)
    updated: set[str] = set()
    for alloc, fee in zip(p.allocations, fees, strict=True):
        if fee.fee_id in updated:  # a second allocation to a fee this payment already changed
            fee = by_key(conn, m.fees, m.fees.c.fee_id, alloc.fee_id)
        owed = 0 if fee.status == "waived" else max(0, fee.amount - fee.paid)
        take = min(owed, alloc.amount)
        if take:
            paid = fee.paid + take
            update_by_key(conn, m.fees, m.fees.c.fee_id, fee.fee_id,
                    paid=paid, status="paid" if paid >= fee.amount else "open")
            updated.add(fee.fee_id)
            ctx.touch("fee", fee.fee_id)
        if alloc.amount > take:
            excess_total += alloc.amount - take
            doubled.append(fee.fee_id)
    insert_into(conn, m.payments, dict(
        payment_id=p.payment_id, kind="payment", reader_id=reader_id, receipt_no=p.receipt_no,
        method=p.method, amount=p.amount, credited=excess_total, kiosk_id=ctx.kiosk_id,
        staff_no=p.staff_no, occurred_at=ctx.occurred_at.isoformat(),
        occurred_day=local_day(ctx.occurred_at), transaction_id=p.transaction_id,
        out_trade_no=p.out_trade_no))
    if p.method == "credit" and reader_id:
        conn.execute(ADD_CREDIT, {"_key": reader_id, "amount": -p.amount})
        ctx.touch("reader", reader_id)
    if excess_total and reader_id:
        ctx.credit(reader_id, excess_total, RULE_DOUBLE_PAYMENT)
        ctx.conflict(RULE_DOUBLE_PAYMENT, "fee", doubled[0],
                     f"fee already paid; {excess_total} fen credited to reader {reader_id}",
                     fees=doubled, payment_id=p.payment_id, credited=excess_total,
                     reader_id=reader_id)


def refuse_deposit_refund(ctx: Context, reader_id: str, amount: int,
                          cancelling: str | None = None) -> None:
    """Raises Reject(refund_exceeds_deposit | card_not_cancelled | refund_nothing) unless
    ``amount`` may be paid back to the reader now (``rules.deposit_refund_refusal``): at most the
    deposit paid less what was refunded, with every card of the reader cancelled (counting the
    card ``cancelling``, which the event being checked cancels). Three small queries: only
    cancellations and refunds, rare events, ask them."""
    args = {"reader_id": reader_id}
    statuses = [(r.card_no, r.status) for r in ctx.conn.execute(_CARD_STATUSES_BY_NO, args)]
    refusal = deposit_refund_refusal(
        amount, deposit_paid=int(ctx.conn.execute(_DEPOSIT_PAID, args).scalar_one()),
        refunded=int(ctx.conn.execute(_REFUNDED, args).scalar_one()),
        card_statuses=[CARD_CANCELLED if no == cancelling else status
                       for no, status in statuses])
    if refusal is not None:
        raise Reject(refusal)


def deposit_refunded(ctx: Context, p: c.DepositRefunded) -> None:
    check_receipt_no(ctx, p.receipt_no)
    staff_or_reject(ctx, p.staff_no, ACTION_REFUND)
    reader_id = resolve_reader(ctx, p.reader_id)
    refuse_reserved_id(p.payment_id)
    if by_key(ctx.conn, m.payments, m.payments.c.payment_id, p.payment_id) is not None:
        raise Reject("payment_exists")
    if by_key(ctx.conn, m.payments, m.payments.c.receipt_no, p.receipt_no) is not None:
        raise Reject("receipt_no_exists")
    refuse_deposit_refund(ctx, reader_id, p.amount)
    insert_into(ctx.conn, m.payments, dict(
        payment_id=p.payment_id, kind="refund", reader_id=reader_id, receipt_no=p.receipt_no,
        method="cash", amount=p.amount, credited=0, kiosk_id=ctx.kiosk_id, staff_no=p.staff_no,
        occurred_at=ctx.occurred_at.isoformat(), occurred_day=local_day(ctx.occurred_at)))

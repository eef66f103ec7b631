"""``payment.unapplied`` and ``payment.refunded``: money a provider took for an action that never
happened (the kiosk died before its commit), booked by the kiosk's payment recovery, and the
provider's refund of it (``library_core.contract.unapplied``; docs/payments.md).

Both become rows of ``payments`` (kind ``payment`` / ``refund``, the provider's method, its
transaction id and our out-trade-number), so the day's figures and the reconciliation against
the provider's bill see what the provider saw. Neither touches a fee or a reader's credit.

What the server re-checks: receipt numbers in the kiosk's range and new; an unapplied payment's
id is ``unapplied-<out_trade_no>`` (one per trade, so a replay is ``payment_exists``) and its
trade is not booked already, as any kind of money in (``trade_booked``, ``transaction_booked``:
``ingest.trades``, which also keeps those id forms from every other kind); its reader, if named,
exists. A refund is
of an unapplied payment of the same kiosk (``refund_unknown_payment``,
``refund_other_kiosk``), the same method and trade (``refund_trade_differs``), never more than
is left unrefunded (``refund_exceeds_payment``), its id ``refund-<out_refund_no>``.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from library_core.contract.unapplied import (
    REFUND_PREFIX,
    UNAPPLIED_PREFIX,
    PaymentRefunded,
    PaymentUnapplied,
)
from record_server import models as m
from record_server.ingest.context import Context, Reject, local_day, resolve_reader
from record_server.ingest.numbering import check_receipt_no
from record_server.ingest.statements import by_key, insert_into
from record_server.ingest.trades import refuse_booked_trade

__all__ = ["REFUND_PREFIX", "UNAPPLIED_PREFIX", "payment_refunded", "payment_unapplied"]

_REFUNDED = select(func.coalesce(func.sum(m.payments.c.amount), 0)).where(
    m.payments.c.transaction_id == bindparam("tid"), m.payments.c.method == bindparam("method"),
    m.payments.c.kind == "refund")


def _new_row(ctx: Context, payment_id: str, receipt_no: str) -> None:
    check_receipt_no(ctx, receipt_no)
    if by_key(ctx.conn, m.payments, m.payments.c.payment_id, payment_id) is not None:
        raise Reject("payment_exists")
    if by_key(ctx.conn, m.payments, m.payments.c.receipt_no, receipt_no) is not None:
        raise Reject("receipt_no_exists")


def payment_unapplied(ctx: Context, p: PaymentUnapplied) -> None:
    if p.payment_id != UNAPPLIED_PREFIX + p.out_trade_no:
        raise Reject("unapplied_payment_id")
    _new_row(ctx, p.payment_id, p.receipt_no)
    refuse_booked_trade(ctx, p.method, p.transaction_id, p.out_trade_no)
    reader_id = resolve_reader(ctx, p.reader_id) if p.reader_id else None
    insert_into(ctx.conn, m.payments, dict(
        payment_id=p.payment_id, kind="payment", reader_id=reader_id, receipt_no=p.receipt_no,
        method=p.method, amount=p.amount, credited=0, kiosk_id=ctx.kiosk_id, staff_no=None,
        occurred_at=ctx.occurred_at.isoformat(), occurred_day=local_day(ctx.occurred_at),
        transaction_id=p.transaction_id, out_trade_no=p.out_trade_no))


def payment_refunded(ctx: Context, p: PaymentRefunded) -> None:
    if p.payment_id != REFUND_PREFIX + p.out_refund_no:
        raise Reject("refund_payment_id")
    _new_row(ctx, p.payment_id, p.receipt_no)
    paid = by_key(ctx.conn, m.payments, m.payments.c.payment_id, p.refund_of)
    if paid is None or paid.kind != "payment" or not p.refund_of.startswith(UNAPPLIED_PREFIX):
        raise Reject("refund_unknown_payment")
    if paid.kiosk_id != ctx.kiosk_id:
        raise Reject("refund_other_kiosk")
    if (paid.method, paid.transaction_id, paid.out_trade_no) != (
            p.method, p.transaction_id, p.out_trade_no):
        raise Reject("refund_trade_differs")
    refunded = int(ctx.conn.execute(_REFUNDED, {"tid": p.transaction_id,
                                                "method": p.method}).scalar_one())
    if refunded + p.amount > int(paid.amount):
        raise Reject("refund_exceeds_payment")
    # no reader on the refund row: a reader's refund rows are what a deposit refund counts
    # (ingest.payments.deposit_refunded); the trade links it to its payment and reader
    insert_into(ctx.conn, m.payments, dict(
        payment_id=p.payment_id, kind="refund", reader_id=None,
        receipt_no=p.receipt_no, method=p.method, amount=p.amount, credited=0,
        kiosk_id=ctx.kiosk_id, staff_no=None, occurred_at=ctx.occurred_at.isoformat(),
        occurred_day=local_day(ctx.occurred_at), transaction_id=p.transaction_id,
        out_trade_no=p.out_trade_no))

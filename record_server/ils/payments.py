"""``ils.fee_paid``: fines of the library's ILS paid at a kiosk, booked as a payment of kind
``ils`` (paid to the ILS: allocated to no fee of ours, the ILS holds the fines). Every money
report counts it as money taken (``library_core.rules.day_metrics`` counts every payment that
is not a refund), so the console's finance page, its day totals and the close-of-day check
include it; the ledger names it "paid to the ILS" (``console.fin.kind.ils``); reconciliation
with the provider's bill matches it like any other payment.

What the server re-checks (the contract has checked kinds, ids and amounts): the receipt number
is the pushing kiosk's and unused, the payment id and receipt number are new
(``payment_exists``, ``receipt_no_exists``), cash is taken by desk staff with a staff proof,
the reader, when named, is one of ours (``unknown_reader``), the payment id is not one the
payment recovery keeps and the provider trade is booked once (``ingest.trades``).
"""

from __future__ import annotations

from library_core.contract.ils import IlsFeePaid
from library_core.rules import ACTION_CASH, ACTION_DESK
from record_server import models as m
from record_server.ingest.context import (
    Context,
    Reject,
    local_day,
    resolve_reader,
    staff_or_reject,
)
from record_server.ingest.numbering import check_receipt_no
from record_server.ingest.statements import by_key, insert_into
from record_server.ingest.trades import refuse_booked_trade, refuse_reserved_id

PAID_TO_ILS = "ils"  # payments.kind of a payment of the ILS's fines


def ils_fee_paid(ctx: Context, p: IlsFeePaid) -> None:
    conn = ctx.conn
    check_receipt_no(ctx, p.receipt_no)
    refuse_reserved_id(p.payment_id)  # the payment recovery's ids (ingest.trades)
    if by_key(conn, m.payments, m.payments.c.payment_id, p.payment_id) is not None:
        raise Reject("payment_exists")
    if by_key(conn, m.payments, m.payments.c.receipt_no, p.receipt_no) is not None:
        raise Reject("receipt_no_exists")
    if p.method == "cash":
        staff_or_reject(ctx, p.staff_no, ACTION_CASH)
    elif p.staff_no:
        staff_or_reject(ctx, p.staff_no, ACTION_DESK)
    reader_id = resolve_reader(ctx, p.reader_id) if p.reader_id else None
    refuse_booked_trade(ctx, p.method, p.transaction_id, p.out_trade_no)  # money in once
    insert_into(conn, m.payments, dict(
        payment_id=p.payment_id, kind=PAID_TO_ILS, reader_id=reader_id, receipt_no=p.receipt_no,
        method=p.method, amount=p.amount, credited=0, kiosk_id=ctx.kiosk_id,
        staff_no=p.staff_no, occurred_at=ctx.occurred_at.isoformat(),
        occurred_day=local_day(ctx.occurred_at), transaction_id=p.transaction_id,
        out_trade_no=p.out_trade_no))

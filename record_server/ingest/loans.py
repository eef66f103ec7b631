"""Handler for returns (renewed loans and loans returned twice)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from library_core import contract as c
from library_core.clock import CHINA_TZ
from library_core.fees import overdue_fine
from library_core.rules import MAX_CLOCK_AHEAD
from record_server import models as m
from record_server.ingest.context import Context, Reject
from record_server.ingest.rules import RULE_RETURN_AFTER_RENEWAL, RULE_RETURNED_TWICE
from record_server.ingest.statements import by_key, update_by_key


def loan_returned(ctx: Context, p: c.LoanReturned) -> None:
    conn = ctx.conn
    loan = by_key(conn, m.loans, m.loans.c.loan_id, p.loan_id)
    if loan is None:
        raise Reject("unknown_loan")
    if loan.item_barcode != p.item_barcode:
        raise Reject("item_does_not_match_loan")
    if dt.datetime.fromisoformat(p.returned_at) > ctx.server_now + MAX_CLOCK_AHEAD:
        raise Reject("returned_in_future")
    if loan.returned_at is not None:
        if p.fine_fee_id:
            _cancel_fine(ctx, p.fine_fee_id, 0)
        ctx.conflict(RULE_RETURNED_TWICE, "loan", p.loan_id,
                     "loan was already returned; this return changes nothing",
                     first_returned_at=loan.returned_at, returned_at=p.returned_at)
        return
    values: dict[str, Any] = {"returned_at": p.returned_at}
    renewed = loan.renewals > 0
    allowed = None
    if renewed:
        returned_on = dt.datetime.fromisoformat(p.returned_at).astimezone(CHINA_TZ).date()
        allowed = overdue_fine(dt.date.fromisoformat(loan.due_on), returned_on, ctx.schedule)
        values["fine_allowed"] = allowed
    update_by_key(conn, m.loans, m.loans.c.loan_id, p.loan_id, **values)
    update_by_key(conn, m.items, m.items.c.barcode, p.item_barcode, status="available")
    ctx.touch("loan", p.loan_id)
    ctx.touch("item", p.item_barcode)
    if renewed and allowed is not None:
        lowered = _cancel_fine(ctx, p.fine_fee_id, allowed) if p.fine_fee_id else None
        ctx.conflict(RULE_RETURN_AFTER_RENEWAL, "loan", p.loan_id,
                     f"returned; fine from renewed due date {loan.due_on} is {allowed} fen",
                     due_on=loan.due_on, fine_allowed=allowed, fine_fee_id=p.fine_fee_id,
                     fine_lowered_from=lowered)


def _cancel_fine(ctx: Context, fee_id: str, allowed: int) -> int | None:
    """Lower an already-assessed fine to ``allowed``; paid excess becomes credit."""
    fee = by_key(ctx.conn, m.fees, m.fees.c.fee_id, fee_id)
    if fee is None or fee.amount <= allowed:
        return None
    excess_paid = max(0, fee.paid - allowed)
    status = "waived" if allowed == 0 and fee.paid == 0 else (
        "paid" if min(fee.paid, allowed) >= allowed else "open")
    update_by_key(ctx.conn, m.fees, m.fees.c.fee_id, fee_id,
            amount=allowed, paid=min(fee.paid, allowed), status=status)
    ctx.touch("fee", fee_id)
    ctx.credit(fee.reader_id, excess_paid, RULE_RETURN_AFTER_RENEWAL)
    return int(fee.amount)


"""Each event kind's handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from library_core import events as ev
from record_server.ereceipts.ingest import receipt_issued
from record_server.ils.ingest import ils_refused
from record_server.ils.payments import ils_fee_paid
from record_server.ingest.cards import (
    card_blocked,
    card_cancelled,
    card_issued,
    card_renewed,
    card_replaced,
)
from record_server.ingest.context import Context, check_occurred_at
from record_server.ingest.loans import loan_returned
from record_server.ingest.payments import (
    deposit_refunded,
    fee_assessed,
    fee_waived,
    payment_recorded,
)
from record_server.ingest.readers import reader_registered
from record_server.ingest.unapplied import payment_refunded, payment_unapplied
from record_server.ingest.visits import day_closed, visit_closed, visit_opened

Handler = Callable[[Context, Any], None]


def _checked(handler: Handler) -> Handler:
    """``handler`` after the checks every event gets (its date against the server's clock)."""
    def run(ctx: Context, payload: Any) -> None:
        check_occurred_at(ctx)
        handler(ctx, payload)

    run.__name__ = run.__qualname__ = handler.__name__
    return run


_HANDLERS: dict[str, Handler] = {
    ev.READER_REGISTERED: reader_registered,
    ev.CARD_ISSUED: card_issued,
    ev.CARD_RENEWED: card_renewed,
    ev.CARD_BLOCKED: card_blocked,
    ev.CARD_REPLACED: card_replaced,
    ev.CARD_CANCELLED: card_cancelled,
    ev.FEE_ASSESSED: fee_assessed,
    ev.FEE_WAIVED: fee_waived,
    ev.PAYMENT_RECORDED: payment_recorded,
    ev.DEPOSIT_REFUNDED: deposit_refunded,
    ev.LOAN_RETURNED: loan_returned,
    ev.VISIT_OPENED: visit_opened,
    ev.VISIT_CLOSED: visit_closed,
    ev.DAY_CLOSED: day_closed,
    ev.RECEIPT_ISSUED: receipt_issued,  # record_server.ereceipts
    ev.ILS_REFUSED: ils_refused,  # record_server.ils
    ev.ILS_FEE_PAID: ils_fee_paid,  # record_server.ils.payments
    ev.PAYMENT_UNAPPLIED: payment_unapplied,  # record_server.ingest.unapplied
    ev.PAYMENT_REFUNDED: payment_refunded,
}
HANDLERS: dict[str, Handler] = {kind: _checked(h) for kind, h in _HANDLERS.items()}

"""The refund slip: when a later step failed and the charge was given back, the reader gets a
receipt saying so (a ``refund`` receipt in the journal). Like every reader receipt, its QR is
its e-receipt's URL with an unguessable token (``library_core.ereceipts``; pushed as
``receipt.issued`` in the same transaction), never the bare receipt number."""

from __future__ import annotations

from typing import Any

from kiosk.services.ports import Repositories
from library_core.clock import Clock
from library_core.ereceipts import with_ereceipt
from library_core.money import Fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine


def refund_slip(repos: Repositories, clock: Clock, cfg: Any, *, amount: Fen, method: str,
                reference: str) -> Receipt:
    """A ``refund`` receipt of ``amount`` given back by ``method`` for the trade ``reference``
    (our out-trade-number), committed to the journal. Raises StoreError."""
    now = clock.now()
    with repos.transaction() as uow:
        receipt = with_ereceipt(Receipt(
            receipt_no=uow.receipts.next_receipt_no(now.date()), kind=ReceiptKind.REFUND,
            kiosk_id=cfg.kiosk_id, issued_at=now, language=cfg.language,
            library_name=cfg.library_name, library_name_en=cfg.library_name_en,
            lines=(ReceiptLine(key="receipt.line.payment_refunded", amount=amount),),
            total=amount, payment_method=method,
            fields=(("receipt.field.reason", "receipt.reason.later_step_failed"),
                    ("receipt.field.payment_ref", reference)),
            footer_key="receipt.footer.refund_after_failure"), cfg.ereceipt_base_url)
        uow.receipts.add(receipt)
        uow.audit.append(at=now, actor="self-service", action="payment.refunded",
                         subject=receipt.receipt_no,
                         detail={"amount": amount, "method": method, "reference": reference})
    return receipt

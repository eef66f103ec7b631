# mypy: disable-error-code="valid-type"
"""The payloads of a mobile payment whose paid-for action never happened (issue 13): the kiosk
took the money (the provider says paid) but what it paid for was rolled back, e.g. the kiosk was
killed between the provider's success and its own commit. ``kiosk.payments.lifecycle``'s
recovery books the payment (``payment.unapplied``: it pays no fee, so ``payment.recorded``'s
allocations do not fit) and, once the provider accepted the refund, the refund
(``payment.refunded``). The record server keeps both as rows of its payments, so its books and
the provider's bill show the same payment and refund (``record_server.reconcile``).

``purpose`` is what the money was for, as the intent named it (``new-card``, ``fees``, ...);
``reader_id`` only when that reader is in the kiosk's books (a new reader's registration was
rolled back with the rest). ``refund_of`` is the ``payment_id`` of the unapplied payment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from library_core.contract.types import MAX_FEN, EntityId, ReceiptNo, Strict, text

# the payment ids these two kinds book under, and no other event may (record_server.ingest.trades)
UNAPPLIED_PREFIX = "unapplied-"  # + the out-trade-number: one unapplied payment per trade
REFUND_PREFIX = "refund-"  # + the out-refund-number: one refund per refund number
RESERVED_PAYMENT_PREFIXES = (UNAPPLIED_PREFIX, REFUND_PREFIX)

ProviderRef = text(64, pattern=r"^[0-9A-Za-z_-]+$")
Amount = Annotated[int, Field(ge=1, le=MAX_FEN, strict=True)]
Method = Literal["wechat", "alipay"]


class PaymentUnapplied(Strict):
    payment_id: EntityId
    reader_id: EntityId | None = None
    receipt_no: ReceiptNo
    method: Method
    amount: Amount
    transaction_id: ProviderRef
    out_trade_no: ProviderRef
    purpose: text(32, pattern=r"^[a-z-]+$")


class PaymentRefunded(Strict):
    payment_id: EntityId
    refund_of: EntityId
    receipt_no: ReceiptNo
    method: Method
    amount: Amount
    transaction_id: ProviderRef
    out_trade_no: ProviderRef
    out_refund_no: ProviderRef

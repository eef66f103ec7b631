# mypy: disable-error-code="valid-type"
"""The ``ils.refused`` and ``ils.fee_paid`` payloads (issue 15.2). ``ils.refused``: a transaction the kiosk queued while the library's
ILS was unreachable and the ILS refused when it was forwarded (the kiosk's SIP2 exception
report, ``server_client.sip2.queue``), sent so the office sees it in the console.

``queue_kind`` and ``key`` are the kiosk queue's: the item's barcode for a check-in, our
transaction id (the receipt number) for a fee paid, the patron for a block. ``answer`` is the
ILS's screen messages as the kiosk received them (clean text, bounded); ``amount`` only for a
fee paid. The refusal's time is the event's ``occurred_at``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from library_core.contract.types import (
    MAX_FEN,
    EntityId,
    IsoDateTime,
    ReceiptNo,
    StaffNo,
    Strict,
    text,
)

QueueKind = Literal["checkin", "fee_paid", "block_patron"]
ANSWER_MAX = 500


class IlsRefused(Strict):
    queue_kind: QueueKind
    key: text(64, pattern=r"^[A-Za-z0-9_.:-]+$")
    answer: text(ANSWER_MAX, min_length=0) = ""
    queued_at: IsoDateTime
    amount: Annotated[int, Field(ge=1, le=MAX_FEN, strict=True)] | None = None


# an ILS's patron identifier as the kiosk sends it in SIP2 (AA): the kiosk refuses any other
PatronId = text(64, pattern=r"^[A-Za-z0-9_.:-]+$")
ProviderRef = text(64, pattern=r"^[0-9A-Za-z_-]+$")


class IlsFeePaid(Strict):
    """``ils.fee_paid``: fines the library's ILS holds, paid at the kiosk (then posted to the
    ILS with 37, our receipt number as its transaction id). The money is the library's like any
    other payment: the record server books it as a payment of kind ``ils`` (paid to the ILS,
    allocated to no fee of ours), so the finance page and the day's totals include it.
    ``reader_id`` only when the patron is a reader in our books (their card number)."""

    payment_id: EntityId
    receipt_no: ReceiptNo
    patron: PatronId
    reader_id: EntityId | None = None
    method: Literal["wechat", "alipay", "cash"]
    amount: Annotated[int, Field(ge=1, le=MAX_FEN, strict=True)]
    staff_no: StaffNo | None = None
    transaction_id: ProviderRef | None = None
    out_trade_no: ProviderRef | None = None

# mypy: disable-error-code="valid-type"
"""The ``ils.refused`` payload (issue 15.2): a transaction the kiosk queued while the library's
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

from library_core.contract.types import MAX_FEN, IsoDateTime, Strict, text

QueueKind = Literal["checkin", "fee_paid", "block_patron"]
ANSWER_MAX = 500


class IlsRefused(Strict):
    queue_kind: QueueKind
    key: text(64, pattern=r"^[A-Za-z0-9_.:-]+$")
    answer: text(ANSWER_MAX, min_length=0) = ""
    queued_at: IsoDateTime
    amount: Annotated[int, Field(ge=1, le=MAX_FEN, strict=True)] | None = None

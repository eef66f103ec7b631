"""Reader cards: tap (identify), new card, renewal, report lost, replacement.

Order inside each paid use case: validate -> charge -> records (uncommitted) -> card write
(the writer reads back and compares) -> COMMIT of records, audit, outbox and receipt in one
transaction. Any failure after the charge refunds it and rolls every row back.
"""

from __future__ import annotations

from kiosk.services.cards.base import CardResult
from kiosk.services.cards.issue import CardIssue, NewReader
from kiosk.services.cards.renewal import CardRenewal
from kiosk.services.cards.replacement import CardReplacement, ReaderAuth
from library_core.receipts import ReceiptLine


class CardService(CardIssue, CardRenewal, CardReplacement):
    """Reader-card use cases. Raises CardRefused, ReaderExists, FeesOwed, PinWrong, PinLocked,
    PaymentError (OfflineLimitExceeded while the server is out of reach), TokenError,
    ValidationError, DeviceError (card reader), StoreError.

    The use cases live one per module: tap and quotes (``lookup``), new card (``issue``),
    renewal (``renewal``), report lost and replacement (``replacement``); the steps they share
    in ``base``.
    """


__all__ = ["CardResult", "CardService", "NewReader", "ReaderAuth", "ReceiptLine"]

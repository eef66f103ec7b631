"""``UnappliedBooks``: what the payment recovery books for money a provider took for an action
that never happened (the kiosk died between the provider's success and the use case's commit,
or a later step failed and the refund was not accepted at once).

The choice (issue 13): such a payment is **refunded through the provider**, not kept as the
reader's credit. A library wants it that way: the money goes back to the wallet it came from
with no visit to the desk; a new reader whose registration was rolled back has no account to
credit at all; and the library does not hold money for a service it did not give. Both steps
are booked, so our books show what the provider's bill shows (a payment and a refund, matched
by ``record_server.reconcile``) and the record server's finance sees both:

1. ``book_payment``: a ``payments`` row (kind ``payment``, no allocations: it paid no fee), a
   receipt in the journal, ``payment.unapplied`` in the outbox, and the intent moved to
   ``unapplied`` -- one transaction, so the payment is booked exactly once (its id,
   ``unapplied-<out_trade_no>``, is one per trade at both ends);
2. ``book_refund``, once the provider accepted the refund: a ``payments`` row of kind
   ``refund``, its receipt, ``payment.refunded`` and the intent ``refunded`` -- one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from kiosk.services.ports import Payment
from library_core import events
from library_core.clock import Clock
from library_core.contract.unapplied import REFUND_PREFIX, UNAPPLIED_PREFIX
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine
from server_client.store.intents import Intent, IntentStore

log = logging.getLogger(__name__)
# REFUND_PREFIX / UNAPPLIED_PREFIX: the ids only these bookings use (the record server refuses
# them on every other kind of event: record_server.ingest.trades)


def out_refund_no(intent: Intent) -> str:
    """Our refund number of ``intent``'s trade: one refund per trade, so a refund asked again
    (a crash before its booking) is the same refund at the provider."""
    return intent.out_trade_no + "R"


@dataclasses.dataclass(frozen=True, slots=True)
class ReceiptHeader:
    """What every receipt of this kiosk carries (from ``settings.kiosk``)."""

    kiosk_id: str
    language: str = "zh_CN"
    library_name: str = ""
    library_name_en: str = ""

    @classmethod
    def from_settings(cls, settings: Any) -> ReceiptHeader:
        k = settings.kiosk
        return cls(k.id, k.language, k.library_name, k.library_name_en)


class UnappliedBooks:
    """Books an unapplied payment and its refund (see the module doc). Raises StoreError."""

    def __init__(self, intents: IntentStore, clock: Clock, header: ReceiptHeader) -> None:
        self.intents = intents
        self.clock = clock
        self.header = header

    def _receipt(self, receipt_no: str, kind: ReceiptKind, at: dt.datetime, intent: Intent,
                 line_key: str, footer_key: str = "") -> Receipt:
        h = self.header
        return Receipt(receipt_no=receipt_no, kind=kind, kiosk_id=h.kiosk_id, issued_at=at,
                       language=h.language, library_name=h.library_name,
                       library_name_en=h.library_name_en,
                       lines=(ReceiptLine(key=line_key, amount=intent.amount),),
                       total=intent.amount, payment_method=intent.provider,
                       fields=(("receipt.field.reason", "receipt.reason.interrupted"),
                               ("receipt.field.payment_ref", intent.out_trade_no)),
                       footer_key=footer_key)

    def book_payment(self, intent: Intent) -> Intent:
        """Book ``intent`` (paid at the provider, not in our books) as an unapplied payment."""
        now = self.clock.now()
        payment_id = UNAPPLIED_PREFIX + intent.out_trade_no
        reader_id = self.intents.reader_of(intent.reference)
        purpose = intent.reference.partition(":")[0] or "payment"
        with self.intents.booking(intent.out_trade_no, "unapplied", at=now,
                                  payment_id=payment_id) as uow:
            receipt_no = uow.receipts.next_receipt_no(now.date())
            uow.receipts.add(self._receipt(receipt_no, ReceiptKind.PAYMENT, now, intent,
                                           "receipt.line.payment_unapplied"))
            uow.payments.add(Payment(payment_id, "payment", reader_id, receipt_no,
                                     intent.provider, intent.transaction_id, intent.amount,
                                     None, now), ())
            uow.outbox.emit(events.PAYMENT_UNAPPLIED, {
                "payment_id": payment_id, "reader_id": reader_id, "receipt_no": receipt_no,
                "method": intent.provider, "amount": intent.amount,
                "transaction_id": intent.transaction_id, "out_trade_no": intent.out_trade_no,
                "purpose": purpose}, occurred_at=now)
            uow.audit.append(at=now, actor="payment-recovery", action="payment.unapplied",
                             subject=payment_id, detail={"amount": intent.amount,
                                                         "method": intent.provider,
                                                         "receipt_no": receipt_no,
                                                         "reference": intent.reference})
        log.warning("intent %s: %s fen paid for %s that did not happen, booked as %s",
                    intent.out_trade_no, intent.amount, intent.reference, receipt_no)
        return dataclasses.replace(intent, state="unapplied", payment_id=payment_id)

    def book_refund(self, intent: Intent) -> Intent:
        """Book the provider's refund of ``intent``'s unapplied payment."""
        now = self.clock.now()
        refund_no = out_refund_no(intent)
        refund_id = REFUND_PREFIX + refund_no
        reader_id = self.intents.reader_of(intent.reference)
        with self.intents.booking(intent.out_trade_no, "refunded", at=now,
                                  refund_id=refund_id) as uow:
            receipt_no = uow.receipts.next_receipt_no(now.date())
            uow.receipts.add(self._receipt(receipt_no, ReceiptKind.REFUND, now, intent,
                                           "receipt.line.payment_refunded",
                                           "receipt.footer.refund_after_recovery"))
            uow.payments.add(Payment(refund_id, "refund", reader_id, receipt_no,
                                     intent.provider, intent.transaction_id, intent.amount,
                                     None, now), ())
            uow.outbox.emit(events.PAYMENT_REFUNDED, {
                "payment_id": refund_id, "refund_of": intent.payment_id,
                "receipt_no": receipt_no, "method": intent.provider, "amount": intent.amount,
                "transaction_id": intent.transaction_id, "out_trade_no": intent.out_trade_no,
                "out_refund_no": refund_no}, occurred_at=now)
            uow.audit.append(at=now, actor="payment-recovery", action="payment.refunded",
                             subject=refund_id, detail={"amount": intent.amount,
                                                        "method": intent.provider,
                                                        "receipt_no": receipt_no})
        log.warning("intent %s: refund of %s fen booked as %s", intent.out_trade_no,
                    intent.amount, receipt_no)
        return dataclasses.replace(intent, state="refunded", refund_id=refund_id)

"""Renewal: extend a tapped card (expired cards too) and rewrite its token."""

from __future__ import annotations

from kiosk.services.cards.base import CardResult, actor_of
from kiosk.services.cards.lookup import CardLookup
from kiosk.services.common import StaffSession, Tender, charged
from kiosk.services.errors import CardRefused
from kiosk.services.views import fee_line, reader_receipt
from library_core import events
from library_core.fees import FeeKind
from library_core.receipts import ReceiptKind
from library_core.rules import renewal_fee_id
from library_core.tokens import decode_card_token


class CardRenewal(CardLookup):
    """The renewal use case."""

    # -- renewal -------------------------------------------------------------------------------
    def renew(self, uid: bytes, raw_token: bytes, months: int, tender: Tender | None, *,
              staff: StaffSession | None = None) -> CardResult:
        """Extend a tapped card (expired cards too); rewrites the token with the new expiry.

        Raises FeesOwed while fees owed exceed ``renewal_refused_above``.
        """
        staff = staff or (tender.staff if tender else None)
        now = self.clock.now()
        today = now.date()
        schedule = self.cfg.fee_schedule()  # one schedule for the whole transaction
        schedule.renewal_fee_for(months)  # an unoffered period is refused before anything else
        info = self.identify_card(uid, raw_token, allow_expired=True)
        terms = self._renewal_terms(schedule, info, months, today)
        if self.writer.current_uid() != uid:
            raise CardRefused("card.none", "the card was taken off the reader")
        old_expiry, new_expiry, fee = info.expires_on, terms.expires_on, terms.fee
        with charged(self.gateway, tender, fee, f"renewal:{info.card_no}",
                     offline=self.offline) as paid, \
                self.repos.transaction() as uow:
            card, reader = self._card_and_reader(uow, decode_card_token(
                raw_token, uid, self.cfg.library_key), uid, today=None)
            uow.cards.set_expiry(info.card_no, new_expiry)
            receipt_no = uow.receipts.next_receipt_no(today)
            receipt = reader_receipt(
                self.cfg, receipt_no=receipt_no, kind=ReceiptKind.RENEWAL, now=now, reader=reader,
                card_no=info.card_no, lines=[fee_line(FeeKind.RENEWAL, fee, months=months)],
                total=fee, method=paid.method, staff_no=staff.staff_no if staff else "",
                fields=(("receipt.field.old_expiry", old_expiry.isoformat()),
                        ("receipt.field.new_expiry", new_expiry.isoformat())))
            uow.receipts.add(receipt)
            payment_id = self._paid_fees(uow, reader_id=info.reader_id, paid=paid,
                                         receipt_no=receipt_no, staff=staff, now=now,
                                         fees=[(FeeKind.RENEWAL, fee, f"{months} months")],
                                         fee_id=renewal_fee_id(self.cfg.kiosk_id, info.card_no,
                                                               new_expiry))
            # after its fee and payment: the server applies a renewal only once it holds them
            uow.outbox.emit(events.CARD_RENEWED, {
                "card_no": info.card_no, "reader_id": info.reader_id,
                "previous_expires_on": old_expiry.isoformat(),
                "expires_on": new_expiry.isoformat(), "months": months}, occurred_at=now)
            uow.audit.append(at=now, actor=actor_of(staff), action="card.renewed",
                             subject=info.card_no,
                             detail={"expires_on": new_expiry.isoformat(), "amount": fee})
            self._write(uid, info.card_no, card.generation, new_expiry)
        return CardResult(info.reader_id, info.card_no, card.generation, new_expiry,
                          fee, payment_id, receipt)

"""New card: register a reader and issue their first card (charged, written, committed)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from kiosk.services.cards.base import CardResult, actor_of
from kiosk.services.cards.lookup import CardLookup
from kiosk.services.common import StaffSession, Tender, charged, new_id
from kiosk.services.ports import Card, Reader
from kiosk.services.views import fee_line, reader_receipt
from library_core import events, pins
from library_core.ages import category_refusal, guardian_refusal
from library_core.errors import ValidationError
from library_core.fees import FeeKind, ReaderCategory
from library_core.identity import (
    birth_date_from_id,
    id_number_hash,
    mask_mobile,
    mask_resident_id,
    validate_mobile,
    validate_resident_id,
)
from library_core.receipts import ReceiptKind
from library_core.rules import CARD_ACTIVE, new_card_expiry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewReader:
    """What the reader types on the new-card form."""

    name: str
    id_number: str
    phone: str
    category: str
    pin: str
    guardian_phone: str = ""  # required under 14 (library_core.ages)


class CardIssue(CardLookup):
    """The new-card use case."""

    # -- new card ------------------------------------------------------------------------------
    def new_card(self, req: NewReader, tender: Tender | None, *,
                 staff: StaffSession | None = None) -> CardResult:
        """Register a reader and issue a card. See the module doc for the order of steps."""
        staff = staff or (tender.staff if tender else None)
        now = self.clock.now()
        today = now.date()
        name = req.name.strip()
        if not 1 <= len(name) <= 50:
            raise ValidationError("name.invalid", "name must be 1 to 50 characters")
        id_number = validate_resident_id(req.id_number, today=today)
        phone = validate_mobile(req.phone)
        try:
            category = ReaderCategory(req.category)
        except ValueError:
            raise ValidationError("category.invalid", f"unknown category {req.category!r}") from None
        guardian = self._check_age(id_number, phone, str(category), req.guardian_phone, today)
        pin = pins.validate_pin(req.pin)
        self._refuse_registered(id_number)
        uid = self._blank_card_uid()
        pin_hash = pins.hash_pin(pin, n=self.cfg.pin_n)
        schedule = self.cfg.fee_schedule()  # one schedule for the whole transaction
        cat_fees = schedule.for_category(category)
        total = cat_fees.deposit + cat_fees.card_fee
        expires_on = new_card_expiry(schedule, today)
        reader_id = new_id()
        if total and tender is not None:
            tender.validate()
            self.offline.check(tender, total)
        with charged(self.gateway, tender, total, f"new-card:{reader_id}",
                     offline=self.offline) as paid, \
                self.repos.transaction() as uow:
            card_no = self._next_card_no(uow)
            reader = Reader(reader_id, name, mask_resident_id(id_number), mask_mobile(phone),
                            str(category), "active", now.isoformat())
            # the kiosk keeps the keyed hash and the masked forms; the number, the phone and
            # the PIN hash travel to the server in the event only (scrubbed once it is pushed)
            uow.readers.add(reader, id_hash=id_number_hash(id_number, self.cfg.library_key),
                            at=now)
            uow.cards.add(Card(card_no, reader_id, uid.hex(), 1, CARD_ACTIVE, expires_on,
                               now.isoformat()))
            registered = {
                "reader_id": reader_id, "name": name, "id_number": id_number, "phone": phone,
                "category": str(category), "pin_hash": pin_hash, "registered_at": now.isoformat(),
            }
            if guardian:
                registered["guardian_phone"] = guardian
            uow.outbox.emit(events.READER_REGISTERED, registered, occurred_at=now)
            receipt_no = uow.receipts.next_receipt_no(today)
            lines = [fee_line(FeeKind.DEPOSIT, cat_fees.deposit), fee_line(FeeKind.CARD, cat_fees.card_fee)]
            receipt = reader_receipt(
                self.cfg, receipt_no=receipt_no, kind=ReceiptKind.NEW_CARD, now=now,
                reader=reader, card_no=card_no, lines=lines, total=total, method=paid.method,
                staff_no=staff.staff_no if staff else "",
                fields=(("receipt.field.category", f"receipt.category.{category}"),
                        ("receipt.field.valid_until", expires_on.isoformat())),
                footer_key="receipt.footer.new_card")
            uow.receipts.add(receipt)
            payment_id = self._paid_fees(
                uow, reader_id=reader_id, paid=paid, receipt_no=receipt_no, staff=staff, now=now,
                fees=[(FeeKind.DEPOSIT, cat_fees.deposit, ""), (FeeKind.CARD, cat_fees.card_fee, "")],
                card_no=card_no)
            # after its fees and payment: the server makes the card only once they are paid
            uow.outbox.emit(events.CARD_ISSUED, {"card_no": card_no, "reader_id": reader_id,
                                                 "uid": uid.hex(), "generation": 1,
                                                 "expires_on": expires_on.isoformat()},
                            occurred_at=now)
            uow.audit.append(at=now, actor=actor_of(staff), action="card.issued",
                             subject=card_no, detail={"reader_id": reader_id, "amount": total,
                                                      "receipt_no": receipt_no})
            self._write(uid, card_no, 1, expires_on)  # last step before COMMIT
        log.info("card %s issued to reader %s", card_no, reader_id)
        return CardResult(reader_id, card_no, 1, expires_on, total, payment_id, receipt)

    @staticmethod
    def _check_age(id_number: str, phone: str, category: str, guardian_phone: str,
                   today: dt.date) -> str | None:
        """The guardian's validated phone (None when not needed), if ``category`` fits the age
        from the ID number (``library_core.ages``). Raises ValidationError ``category.age``,
        ``guardian.required``, ``guardian.not_needed``,
        ``phone.invalid``."""
        birth = birth_date_from_id(id_number)
        assert birth is not None  # validate_resident_id checked it
        refusal = category_refusal(category, birth, today)
        if refusal is not None:
            raise ValidationError(refusal, f"category {category} does not fit the age")
        guardian = validate_mobile(guardian_phone) if guardian_phone.strip() else None
        refusal = guardian_refusal(birth, today, guardian_phone=guardian)
        if refusal is not None:
            raise ValidationError(refusal, "guardian's phone")
        return guardian

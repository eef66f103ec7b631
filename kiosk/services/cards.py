"""Reader cards: tap (identify), new card, renewal, report lost, replacement.

Order inside each paid use case: validate -> charge -> records (uncommitted) -> card write
(the writer reads back and compares) -> COMMIT of records, audit, outbox and receipt in one
transaction. Any failure after the charge refunds it and rolls every row back.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk.services.common import (
    OfflineLimit,
    Paid,
    StaffSession,
    Tender,
    charged,
    mask_card_no,
    mask_name,
    new_id,
    record_payment,
)
from kiosk.services.config import ServicesConfig
from kiosk.services.errors import CardRefused, FeesOwed, ReaderExists
from kiosk.services.pinlock import check_pin
from kiosk.services.ports import Card, CardWriter, Fee, PaymentGateway, Reader
from kiosk.services.views import ReaderSummary, fee_line, open_fees, reader_receipt, summary
from library_core import events, pins
from library_core.clock import Clock
from library_core.codes import make_card_no
from library_core.errors import NotFound, TokenError, ValidationError
from library_core.fees import FeeKind, FeeSchedule, ReaderCategory, add_months
from library_core.identity import validate_mobile, validate_resident_id
from library_core.money import Fen, format_fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine
from library_core.rules import (
    CARD_ACTIVE,
    CARD_REPLACED,
    RenewalTerms,
    blocked_status,
    card_refusal,
    fees_owed_refuse,
    holder_of_id_number,
    renewal_terms,
)
from library_core.tokens import CardToken, check_card_token, decode_card_token, encode_card_token

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewReader:
    """What the reader types on the new-card form."""

    name: str
    id_number: str
    phone: str
    category: str
    pin: str


@dataclass(frozen=True, slots=True)
class CardResult:
    reader_id: str
    card_no: str
    generation: int
    expires_on: dt.date
    amount: Fen
    payment_id: str | None
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class ReaderAuth:
    """A reader who proved who they are with ID number + PIN (for replacement)."""

    reader_id: str
    name_masked: str
    at: dt.datetime


def actor_of(staff: StaffSession | None, fallback: str = "self-service") -> str:
    return staff.staff_no if staff is not None else fallback


def refuse_if_owed(owed: Fen, schedule: FeeSchedule) -> None:
    """Raises FeesOwed (``fees.owed_above_limit``) while fees owed are above the limit: the one
    check renewal, replacement and the renewal quote on screen make before any payment."""
    if fees_owed_refuse(owed, schedule):
        limit = schedule.renewal_refused_above
        raise FeesOwed("fees.owed_above_limit", "fees owed above the limit", owed=owed,
                       limit=limit, owed_text=format_fen(owed), limit_text=format_fen(limit))


class CardService:
    """Reader-card use cases. Raises CardRefused, ReaderExists, FeesOwed, PinWrong, PinLocked,
    PaymentError (OfflineLimitExceeded while the server is out of reach), TokenError,
    ValidationError, DeviceError (card reader), StoreError."""

    def __init__(self, repos: Repositories, clock: Clock, gateway: PaymentGateway,
                 writer: CardWriter, config: ServicesConfig, *,
                 offline: OfflineLimit | None = None) -> None:
        self.repos = repos
        self.clock = clock
        self.gateway = gateway
        self.writer = writer
        self.cfg = config
        self.offline = offline or OfflineLimit.unlimited()

    # -- tap -----------------------------------------------------------------------------------
    def identify_card(self, uid: bytes, raw_token: bytes, *, allow_expired: bool = False) -> ReaderSummary:
        """The reader behind a tapped card, or a refusal.

        Raises TokenError (blank, foreign, copied, tampered...), CardRefused with
        ``card.unknown``, ``card.lost`` (reported lost or replaced, even for an exact copy),
        ``card.cancelled``, ``card.expired`` (unless ``allow_expired``, as renewal does).
        """
        today = self.clock.now().date()
        token = decode_card_token(raw_token, uid, self.cfg.library_key)
        with self.repos.transaction() as uow:
            card, reader = self._card_and_reader(uow, token, uid,
                                                 today=None if allow_expired else today)
            return summary(uow, reader, card, today)

    def tap(self, *, allow_expired: bool = False) -> ReaderSummary:
        """Identify the card on the reader now. Raises CardRefused ``card.none`` if none."""
        uid = self._uid()
        return self.identify_card(uid, self.writer.read_token(uid), allow_expired=allow_expired)

    def _uid(self) -> bytes:
        uid = self.writer.current_uid()
        if uid is None:
            raise CardRefused("card.none", "no card on the reader")
        return uid

    def _card_and_reader(self, uow: UnitOfWork, token: CardToken, uid: bytes, *,
                         today: dt.date | None) -> tuple[Card, Reader]:
        """The card's record and reader, if the token may be used; ``today=None`` lets an expired
        card through (renewal). Raises CardRefused."""
        card = uow.cards.get(token.card_no)
        if card is None:
            raise CardRefused("card.unknown", f"no card {token.card_no}")
        refusal = card_refusal(card.status)
        if refusal is not None:
            raise CardRefused(refusal, f"card {card.status}")
        if card.uid != uid.hex():
            raise CardRefused("card.unknown", "card UID does not match the one issued")
        reader = uow.readers.get(card.reader_id)
        if reader is None:
            raise CardRefused("card.unknown", "card without a reader")
        if reader.status != "active":
            raise CardRefused("card.cancelled", "reader cancelled")
        expires = card.expires_on
        try:
            check_card_token(token, current_generation=card.generation, today=today,
                             expires_on=expires)
        except TokenError as err:
            if err.reason == "stale_generation":
                raise CardRefused("card.lost", "older generation of a replaced card") from err
            raise CardRefused("card.expired", "card expired", expires_on=expires.isoformat()) from err
        return card, reader

    def _blank_card_uid(self) -> bytes:
        """The UID of a card that may be written: blank, foreign, or one of ours no longer live.

        Raises CardRefused ``card.none`` / ``card.in_use``.
        """
        uid = self._uid()
        raw = self.writer.read_token(uid)
        try:
            token = decode_card_token(raw, uid, self.cfg.library_key)
        except TokenError:
            token = None  # blank, foreign or unreadable: free to write
        with self.repos.read() as view:
            if token is not None:
                live = view.cards.get(token.card_no)
                if live is not None and live.status == CARD_ACTIVE:
                    raise CardRefused("card.in_use", "this card is issued to a reader")
            if view.cards.active_with_uid(uid.hex()) is not None:
                raise CardRefused("card.in_use", "this card is issued to a reader")
        return uid

    def _next_card_no(self, uow: UnitOfWork) -> str:
        return make_card_no(self.cfg.card_serial_base() + uow.counters.next("card_serial"))

    def _write(self, uid: bytes, card_no: str, generation: int, expires_on: dt.date) -> None:
        data = encode_card_token(CardToken(card_no, generation, expires_on), uid, self.cfg.library_key)
        self.writer.write_token(uid, data)

    def _paid_fees(self, uow: UnitOfWork, *, reader_id: str, fees: list[tuple[str, Fen, str]],
                   paid: Paid, receipt_no: str, staff: StaffSession | None,
                   now: dt.datetime) -> str | None:
        """Insert fees paid at once (kind, amount, description), their events and the payment."""
        allocations: list[tuple[str, Fen]] = []
        for kind, amount, description in fees:
            if amount <= 0:
                continue
            fee_id = new_id()
            uow.fees.add(Fee(fee_id, reader_id, kind, amount, amount, "paid", description,
                             now.isoformat()))
            uow.outbox.emit(events.FEE_ASSESSED, {"fee_id": fee_id, "reader_id": reader_id, "kind": kind,
                                          "amount": amount, "description": description},
                    occurred_at=now)
            allocations.append((fee_id, amount))
        if paid.amount == 0:
            return None
        payment_id = record_payment(uow, paid=paid, reader_id=reader_id, receipt_no=receipt_no,
                                    allocations=allocations,
                                    staff_no=staff.staff_no if staff else None, now=now)
        uow.outbox.emit(events.PAYMENT_RECORDED, {
            "payment_id": payment_id, "reader_id": reader_id, "receipt_no": receipt_no,
            "method": paid.method, "amount": paid.amount,
            "allocations": [{"fee_id": f, "amount": a} for f, a in allocations],
            "staff_no": staff.staff_no if staff else None,
        }, occurred_at=now)
        return payment_id

    # -- quotes: what the screens show before a payment (the same rules the use cases apply) --
    def check_new_reader(self, id_number: str) -> str:
        """The validated ID number, if a new reader may register with it. Raises
        ValidationError for a bad number, ReaderExists when it is already an active reader's."""
        value = validate_resident_id(id_number, today=self.clock.now().date())
        self._refuse_registered(value)
        return value

    def _refuse_registered(self, id_number: str) -> None:
        """One active reader per ID number (``library_core.rules.holder_of_id_number``)."""
        with self.repos.read() as view:
            holder = holder_of_id_number(view.readers.registered_with(id_number))
        if holder is not None:
            raise ReaderExists(None, "reader already registered",
                               has_live_card=holder.has_live_card)

    def new_card_prices(self, category: str) -> tuple[Fen, Fen]:
        """(card fee, deposit) of a new card in ``category``, from the schedule in force."""
        cat = self.cfg.fee_schedule().for_category(category)
        return int(cat.card_fee), int(cat.deposit)

    def renewal_periods(self) -> list[int]:
        return list(self.cfg.fee_schedule().renewal_periods_months)

    def renewal_fee(self, months: int) -> Fen:
        """Raises ValidationError ``renewal.period`` for a period not offered."""
        return int(self.cfg.fee_schedule().renewal_fee_for(months))

    def replacement_fee(self) -> Fen:
        return int(self.cfg.fee_schedule().replacement_fee)

    def quote_renewal(self, card: ReaderSummary, months: int) -> RenewalTerms:
        """Fee and new expiry of renewing a tapped card. Raises FeesOwed before any payment
        while fees owed exceed the limit, ValidationError for a period not offered."""
        return self._renewal_terms(self.cfg.fee_schedule(), card, months, self.clock.now().date())

    @staticmethod
    def _renewal_terms(schedule: FeeSchedule, card: ReaderSummary, months: int,
                       today: dt.date) -> RenewalTerms:
        refuse_if_owed(card.balance_owed, schedule)
        return renewal_terms(schedule, months, expires_on=card.expires_on, today=today)

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
        pin = pins.validate_pin(req.pin)
        self._refuse_registered(id_number)
        uid = self._blank_card_uid()
        pin_hash = pins.hash_pin(pin, n=self.cfg.pin_n)
        schedule = self.cfg.fee_schedule()  # one schedule for the whole transaction
        cat_fees = schedule.for_category(category)
        total = cat_fees.deposit + cat_fees.card_fee
        expires_on = add_months(today, schedule.card_validity_months)
        reader_id = new_id()
        if total and tender is not None:
            tender.validate()
            self.offline.check(tender, total)
        with charged(self.gateway, tender, total, f"new-card:{reader_id}",
                     offline=self.offline) as paid, \
                self.repos.transaction() as uow:
            card_no = self._next_card_no(uow)
            reader = Reader(reader_id, name, id_number, phone, str(category), "active",
                            now.isoformat())
            uow.readers.add(reader, pin_hash=pin_hash, at=now)
            uow.cards.add(Card(card_no, reader_id, uid.hex(), 1, CARD_ACTIVE, expires_on,
                               now.isoformat()))
            uow.outbox.emit(events.READER_REGISTERED, {
                "reader_id": reader_id, "name": name, "id_number": id_number, "phone": phone,
                "category": str(category), "pin_hash": pin_hash, "registered_at": now.isoformat(),
            }, occurred_at=now)
            uow.outbox.emit(events.CARD_ISSUED, {"card_no": card_no, "reader_id": reader_id,
                                                 "uid": uid.hex(), "generation": 1,
                                                 "expires_on": expires_on.isoformat()},
                            occurred_at=now)
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
                fees=[(FeeKind.DEPOSIT, cat_fees.deposit, ""), (FeeKind.CARD, cat_fees.card_fee, "")])
            uow.audit.append(at=now, actor=actor_of(staff), action="card.issued",
                             subject=card_no, detail={"reader_id": reader_id, "amount": total,
                                                      "receipt_no": receipt_no})
            self._write(uid, card_no, 1, expires_on)  # last step before COMMIT
        log.info("card %s issued to reader %s", card_no, reader_id)
        return CardResult(reader_id, card_no, 1, expires_on, total, payment_id, receipt)

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
            uow.outbox.emit(events.CARD_RENEWED, {
                "card_no": info.card_no, "reader_id": info.reader_id,
                "previous_expires_on": old_expiry.isoformat(),
                "expires_on": new_expiry.isoformat(), "months": months}, occurred_at=now)
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
                                         fees=[(FeeKind.RENEWAL, fee, f"{months} months")])
            uow.audit.append(at=now, actor=actor_of(staff), action="card.renewed",
                             subject=info.card_no,
                             detail={"expires_on": new_expiry.isoformat(), "amount": fee})
            self._write(uid, info.card_no, card.generation, new_expiry)
        return CardResult(info.reader_id, info.card_no, card.generation, new_expiry,
                          fee, payment_id, receipt)

    # -- replacement ---------------------------------------------------------------------------
    def verify_reader(self, id_number: str, pin: str) -> ReaderAuth:
        """ID number + PIN. Raises ValidationError, NotFound ``reader.not_found``, PinWrong,
        PinLocked (after 5 wrong PINs)."""
        id_number = validate_resident_id(id_number)
        with self.repos.read() as view:
            reader = view.readers.active_by_id_number(id_number)
        if reader is None:
            raise NotFound("reader.not_found", "no active reader with this ID number")
        check_pin(self.repos, self.clock, self.cfg, table="readers", key=reader.reader_id,
                  pin=pin, actor=f"reader:{reader.reader_id}")
        return ReaderAuth(reader.reader_id, mask_name(reader.name), self.clock.now())

    def report_lost(self, auth: ReaderAuth, *, staff: StaffSession | None = None) -> list[str]:
        """Block every live card of the reader at once (own transaction, priority event)."""
        now = self.clock.now()
        with self.repos.transaction() as uow:
            cards = uow.cards.of_reader(auth.reader_id, (CARD_ACTIVE,))
            for c in cards:
                status = blocked_status(c.status, "lost")
                assert status is not None  # an active card always takes the block
                uow.cards.set_status(c.card_no, status, blocked_at=now)
                uow.outbox.emit(events.CARD_BLOCKED, {
                    "card_no": c.card_no, "reader_id": auth.reader_id, "reason": "lost",
                    "staff_no": staff.staff_no if staff else None}, occurred_at=now)
                uow.audit.append(at=now, actor=actor_of(staff, f"reader:{auth.reader_id}"),
                                 action="card.blocked", subject=c.card_no,
                                 detail={"reason": "lost"})
        return [c.card_no for c in cards]

    def replace(self, auth: ReaderAuth, tender: Tender | None, *,
                staff: StaffSession | None = None) -> CardResult:
        """Block the old card first (committed on its own), then issue a new card with the next
        generation. A failure after the block leaves the block and nothing else."""
        staff = staff or (tender.staff if tender else None)
        self.report_lost(auth, staff=staff)
        now = self.clock.now()
        today = now.date()
        with self.repos.read() as view:
            old = view.cards.latest_of_reader(auth.reader_id)
            owed = sum(f.due for f in open_fees(view, auth.reader_id))
        if old is None:
            raise NotFound("card.unknown", "reader has no card to replace")
        schedule = self.cfg.fee_schedule()  # one schedule for the whole transaction
        refuse_if_owed(owed, schedule)
        uid = self._blank_card_uid()
        fee = schedule.replacement_fee
        generation = old.generation + 1
        expires_on = old.expires_on  # the fee buys a card, not time
        with charged(self.gateway, tender, fee, f"replacement:{auth.reader_id}",
                     offline=self.offline) as paid, \
                self.repos.transaction() as uow:
            reader = uow.readers.get(auth.reader_id)
            assert reader is not None
            card_no = self._next_card_no(uow)
            uow.cards.set_status(old.card_no, CARD_REPLACED)
            uow.cards.add(Card(card_no, auth.reader_id, uid.hex(), generation, CARD_ACTIVE,
                               expires_on, now.isoformat()))
            uow.outbox.emit(events.CARD_REPLACED, {
                "old_card_no": old.card_no, "card_no": card_no, "reader_id": auth.reader_id,
                "uid": uid.hex(), "generation": generation,
                "expires_on": expires_on.isoformat()}, occurred_at=now)
            receipt_no = uow.receipts.next_receipt_no(today)
            receipt = reader_receipt(
                self.cfg, receipt_no=receipt_no, kind=ReceiptKind.REPLACEMENT, now=now,
                reader=reader, card_no=card_no, lines=[fee_line(FeeKind.REPLACEMENT, fee)],
                total=fee, method=paid.method, staff_no=staff.staff_no if staff else "",
                fields=(("receipt.field.old_card", mask_card_no(old.card_no)),
                        ("receipt.field.old_card_status", "receipt.card_status.lost"),
                        ("receipt.field.generation", str(generation)),
                        ("receipt.field.valid_until", expires_on.isoformat())))
            uow.receipts.add(receipt)
            payment_id = self._paid_fees(uow, reader_id=auth.reader_id, paid=paid,
                                         receipt_no=receipt_no, staff=staff, now=now,
                                         fees=[(FeeKind.REPLACEMENT, fee, "")])
            uow.audit.append(at=now, actor=actor_of(staff, f"reader:{auth.reader_id}"),
                             action="card.replaced", subject=card_no,
                             detail={"old_card_no": old.card_no, "generation": generation})
            self._write(uid, card_no, generation, expires_on)
        return CardResult(auth.reader_id, card_no, generation, expires_on, fee, payment_id, receipt)


__all__ = ["CardResult", "CardService", "NewReader", "ReaderAuth", "ReceiptLine"]

"""The steps every reader-card use case shares: the collaborators, the tapped card's record
check, a writable blank card, card numbers, writing the token, and recording fees paid at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk.services.common import (
    OfflineLimit,
    Paid,
    StaffSession,
    new_id,
    prover_of,
    provider_refs,
    record_payment,
)
from kiosk.services.config import ServicesConfig
from kiosk.services.errors import CardRefused, FeesOwed
from kiosk.services.ports import (
    Card,
    CardWriter,
    Fee,
    PaymentGateway,
    Reader,
    ReaderPinVerifier,
)
from library_core import events
from library_core.clock import Clock
from library_core.codes import make_card_no
from library_core.errors import TokenError
from library_core.fees import FeeSchedule
from library_core.money import Fen, format_fen
from library_core.receipts import Receipt
from library_core.rules import CARD_ACTIVE, card_fee_id, card_refusal, fees_owed_refuse
from library_core.tokens import CardToken, check_card_token, decode_card_token, encode_card_token

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories, UnitOfWork


@dataclass(frozen=True, slots=True)
class CardResult:
    reader_id: str
    card_no: str
    generation: int
    expires_on: dt.date
    amount: Fen
    payment_id: str | None
    receipt: Receipt


def actor_of(staff: StaffSession | None, fallback: str = "self-service") -> str:
    return staff.staff_no if staff is not None else fallback


def refuse_if_owed(owed: Fen, schedule: FeeSchedule) -> None:
    """Raises FeesOwed (``fees.owed_above_limit``) while fees owed are above the limit: the one
    check renewal, replacement and the renewal quote on screen make before any payment."""
    if fees_owed_refuse(owed, schedule):
        limit = schedule.renewal_refused_above
        raise FeesOwed("fees.owed_above_limit", "fees owed above the limit", owed=owed,
                       limit=limit, owed_text=format_fen(owed), limit_text=format_fen(limit))


class CardDesk:
    """Collaborators of the card use cases and the steps they share. Raises CardRefused."""

    def __init__(self, repos: Repositories, clock: Clock, gateway: PaymentGateway,
                 writer: CardWriter, config: ServicesConfig, *,
                 offline: OfflineLimit | None = None,
                 reader_pins: ReaderPinVerifier | None = None) -> None:
        self.repos = repos
        self.clock = clock
        self.gateway = gateway
        self.writer = writer
        self.cfg = config
        self.offline = offline or OfflineLimit.unlimited()
        self.reader_pins = reader_pins  # None: no server to check a reader's PIN (replacement)

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
                   now: dt.datetime, fee_id: str | None = None,
                   card_no: str | None = None) -> str | None:
        """Insert fees paid at once (kind, amount, description), their events and the payment;
        ``fee_id`` names the fee when there is one (a renewal's: ``rules.renewal_fee_id``),
        ``card_no`` the card the fees pay for (``rules.card_fee_id``, one per kind). The caller
        emits the card's own event after these: the server makes the card only once they are
        paid."""
        allocations: list[tuple[str, Fen]] = []
        for kind, amount, description in fees:
            if amount <= 0:
                continue
            if card_no is not None:
                fee_id = card_fee_id(self.cfg.kiosk_id, card_no, kind)
            else:
                fee_id = fee_id if fee_id is not None and len(fees) == 1 else new_id()
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
            "staff_no": staff.staff_no if staff else None, **provider_refs(paid),
        }, occurred_at=now, prover=prover_of(staff))
        return payment_id

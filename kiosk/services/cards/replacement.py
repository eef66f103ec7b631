"""Report lost and replacement: a reader proves who they are (ID number + PIN), every live card
is blocked at once, and a new card with the next generation may be issued."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from kiosk.services.cards.base import CardResult, actor_of, refuse_if_owed
from kiosk.services.cards.lookup import CardLookup
from kiosk.services.common import (
    StaffSession,
    Tender,
    charged,
    mask_card_no,
    mask_name,
    prover_of,
)
from kiosk.services.errors import PinLocked, PinWrong, ReplacementOffline
from kiosk.services.ports import Card, PinVerdict
from kiosk.services.views import fee_line, open_fees, reader_receipt
from library_core import events
from library_core.errors import NotFound, SyncError, ValidationError
from library_core.fees import FeeKind
from library_core.identity import id_number_hash, validate_resident_id
from library_core.receipts import ReceiptKind
from library_core.rules import CARD_ACTIVE, CARD_REPLACED, blocked_status, next_generation

log = logging.getLogger(__name__)
_PIN_AUDIT = {"ok": "pin.ok", "wrong": "pin.failed", "locked": "pin.locked"}


@dataclass(frozen=True, slots=True)
class ReaderAuth:
    """A reader who proved who they are with ID number + PIN (for replacement)."""

    reader_id: str
    name_masked: str
    at: dt.datetime
    grant: str | None = None  # the server's reader grant, carried by the block and replacement


class ServerReaderPins:
    """``ReaderPinVerifier`` over the record server client's ``verify_reader_pin`` (its JSON
    answer made a ``PinVerdict``; an answer that is not one is a SyncError)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def verify_reader_pin(self, reader_id: str, id_number: str, pin: str) -> PinVerdict:
        body = self.client.verify_reader_pin(reader_id, id_number, pin)
        result = body.get("result") if isinstance(body, dict) else None
        if result not in ("ok", "wrong", "locked"):
            raise SyncError("error.sync", f"reader PIN answer {result!r}")
        return PinVerdict(str(result), int(body.get("attempts_left") or 0),
                          int(body.get("minutes") or 0), str(body.get("grant") or ""))


class CardReplacement(CardLookup):
    """The report-lost and replacement use cases."""

    # -- replacement ---------------------------------------------------------------------------
    def verify_reader(self, id_number: str, pin: str) -> ReaderAuth:
        """ID number + PIN, the PIN checked by the record server (the kiosk holds no reader
        PIN hash). Raises ValidationError (``pin.format`` for a PIN that is not 6 digits),
        NotFound ``reader.not_found``, PinWrong (``attempts_left``), PinLocked
        (``minutes``), ReplacementOffline when the server cannot answer."""
        id_number = validate_resident_id(id_number)
        if not (len(pin) == 6 and pin.isascii() and pin.isdigit()):
            raise ValidationError("pin.format", "PIN must be 6 digits")
        with self.repos.read() as view:
            reader = view.readers.active_by_id_hash(id_number_hash(id_number, self.cfg.library_key))
        if reader is None:
            raise NotFound("reader.not_found", "no active reader with this ID number")
        actor = f"reader:{reader.reader_id}"
        if self.reader_pins is None:
            raise ReplacementOffline(None, "no record server to check the PIN")
        try:
            verdict = self.reader_pins.verify_reader_pin(reader.reader_id, id_number, pin)
        except NotFound:
            raise
        except SyncError as err:
            log.warning("reader PIN not checked, replacement refused: %s", err)
            raise ReplacementOffline(None, "the record server cannot check the PIN") from err
        now = self.clock.now()
        with self.repos.transaction() as uow:
            uow.audit.append(at=now, actor=actor, action=_PIN_AUDIT.get(verdict.result, "pin.failed"),
                             subject=f"readers:{reader.reader_id}",
                             detail={"checked_by": "record-server"})
        if verdict.result == "locked":
            raise PinLocked(None, "too many wrong PINs", minutes=verdict.minutes)
        if verdict.result != "ok":
            raise PinWrong(None, "wrong PIN", attempts_left=verdict.attempts_left)
        return ReaderAuth(reader.reader_id, mask_name(reader.name), now, verdict.grant or None)

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
                    "staff_no": staff.staff_no if staff else None,
                    "reader_grant": auth.grant}, occurred_at=now, prover=prover_of(staff))
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
        generation = next_generation(old.generation)
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
                                         fees=[(FeeKind.REPLACEMENT, fee, "")],
                                         card_no=card_no)
            # after its fee and payment: the server replaces the card only once it is paid
            uow.outbox.emit(events.CARD_REPLACED, {
                "old_card_no": old.card_no, "card_no": card_no, "reader_id": auth.reader_id,
                "uid": uid.hex(), "generation": generation,
                "expires_on": expires_on.isoformat(), "reader_grant": auth.grant},
                occurred_at=now)
            uow.audit.append(at=now, actor=actor_of(staff, f"reader:{auth.reader_id}"),
                             action="card.replaced", subject=card_no,
                             detail={"old_card_no": old.card_no, "generation": generation})
            self._write(uid, card_no, generation, expires_on)
        return CardResult(auth.reader_id, card_no, generation, expires_on, fee, payment_id, receipt)

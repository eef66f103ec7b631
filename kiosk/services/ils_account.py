"""A reader's account at the ILS: status and fines (SIP2 63/64), paying them at the kiosk and
posting the payment with fee paid (37, our receipt number as the transaction id) once it has
settled, blocking the patron (01) when a card is reported lost, renewing loans (29).

A posting the ILS refuses is shown (``IlsPaymentResult.posting``) and goes into the exception
report for staff; one it cannot answer is queued when the offline policy allows fees, else it
goes into the exception report too: a payment taken here always reaches the ILS or staff.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk.services.circulation import (
    QUEUE_BLOCK,
    QUEUE_FEE_PAID,
    CirculationDesk,
    PatronAccount,
    Posting,
)
from kiosk.services.common import (
    OfflineLimit,
    StaffSession,
    Tender,
    charged,
    new_id,
    prover_of,
    provider_refs,
)
from kiosk.services.config import ServicesConfig
from kiosk.services.ils_pins import IlsPinCheck
from kiosk.services.ports import Payment, PaymentGateway
from kiosk.services.views import reader_receipt
from library_core import events
from library_core.clock import Clock
from library_core.errors import DomainError, SyncError, ValidationError
from library_core.money import Fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories

log = logging.getLogger(__name__)

POSTED, QUEUED, REFUSED = "posted", "queued", "refused"
PATRON_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # library_core.contract.ils.PatronId


def check_patron_id(patron: str) -> str:
    """Raises ValidationError ``ils.patron_invalid`` for a patron id we will not send."""
    if not isinstance(patron, str) or not PATRON_ID.fullmatch(patron):
        raise ValidationError("ils.patron_invalid", "not a patron identifier")
    return patron


class IlsRenewalDenied(DomainError):
    """The library's ILS says the patron's renewal privileges are denied (patron status flag
    2 of its 64): neither the card nor a loan is renewed here; to the desk
    (``ils.renewal_denied``)."""

    message_id = "ils.renewal_denied"


def refuse_if_renewal_denied(account: PatronAccount) -> None:
    """Raises IlsRenewalDenied when the ILS denies the patron renewal privileges."""
    if account.renewal_denied:
        raise IlsRenewalDenied(None, "the ILS denies the patron renewal privileges")


@dataclass(frozen=True, slots=True)
class IlsPaymentResult:
    receipt: Receipt
    amount: Fen
    posting: str  # posted | queued | refused (shown to the reader; staff see the refusals)
    messages: tuple[str, ...] = ()


class IlsAccountService:
    """See the module docstring. Raises SyncError (the ILS cannot answer a read),
    ValidationError, PaymentError, StoreError."""

    def __init__(self, desk: CirculationDesk, repos: Repositories, clock: Clock,
                 gateway: PaymentGateway, config: ServicesConfig, *,
                 offline: OfflineLimit | None = None) -> None:
        self.desk = desk
        self.repos = repos
        self.clock = clock
        self.gateway = gateway
        self.cfg = config
        self.offline = offline or OfflineLimit.unlimited()
        self.pins = IlsPinCheck(repos, clock, config)

    def account(self, patron: str, *, password: str | None = None) -> PatronAccount:
        """The patron's status and fines at the ILS (63/64). With ``password`` (a reader the
        ILS knows and we do not: their ILS PIN is the proof) the kiosk's PIN count applies
        (``ils_pins.IlsPinCheck``): raises PinLocked before anything is sent while locked,
        ValidationError ``ils.patron_unknown``, IlsPinWrong (counted) unless the ILS confirms
        both."""
        check_patron_id(patron)
        if password is not None:
            return self.pins.account(self.desk.ils, patron, password)
        return self.desk.ils.account(patron)

    def owed(self, patron: str) -> Fen:
        """What the patron owes the ILS now (renewal checks this, not our store)."""
        return self.account(patron).owed

    def pay(self, patron: str, tender: Tender | None, *, amount: Fen | None = None,
            staff: StaffSession | None = None, reader_id: str | None = None,
            password: str | None = None) -> IlsPaymentResult:
        """Pay ``amount`` (all that is owed when None) of the patron's ILS fines: charge,
        commit receipt, payment, audit and the ``ils.fee_paid`` event for the record server's
        books, then post 37 (or queue it / report it). ``reader_id``: the patron is a reader of
        ours (a tapped card); ``password``: the ILS PIN of one who is not."""
        account = self.account(patron, password=password)  # what is owed now, from the ILS
        amount = account.owed if amount is None else amount
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ValidationError("money.invalid", "amount must be integer fen")
        if amount <= 0 or account.owed <= 0:
            raise ValidationError("payment.nothing_due", "nothing to pay")
        if amount > account.owed:
            raise ValidationError("payment.too_much", "amount is more than is owed",
                                  due=account.owed)
        staff = staff or (tender.staff if tender else None)
        now = self.clock.now()
        with charged(self.gateway, tender, amount, f"ils-fees:{patron}",
                     offline=self.offline) as paid, self.repos.transaction() as uow:
            receipt_no = uow.receipts.next_receipt_no(now.date())
            lines = [ReceiptLine(text=f.description or f.fine_id, amount=f.amount or None)
                     for f in account.fines]
            receipt = reader_receipt(self.cfg, receipt_no=receipt_no, kind=ReceiptKind.PAYMENT,
                                     now=now, reader=None, lines=lines, total=amount,
                                     method=paid.method, staff_no=staff.staff_no if staff else "",
                                     fields=(("receipt.field.ils_patron", patron),))
            uow.receipts.add(receipt)
            # the money in our books too (the day's Z-report counts it), allocated to no fee
            # of ours: the fines are the ILS's
            payment_id = new_id()
            staff_no = staff.staff_no if staff else None
            uow.payments.add(Payment(payment_id, "payment", reader_id, receipt_no,
                                     str(paid.method), paid.transaction_id, paid.amount,
                                     staff_no, now), [])
            uow.outbox.emit(events.ILS_FEE_PAID, {
                "payment_id": payment_id, "receipt_no": receipt_no, "patron": patron,
                "reader_id": reader_id, "method": str(paid.method), "amount": paid.amount,
                "staff_no": staff_no, **provider_refs(paid)}, occurred_at=now,
                prover=prover_of(staff))
            uow.audit.append(at=now, actor=staff.staff_no if staff else "self-service",
                             action="ils.fee_paid", subject=receipt_no,
                             detail={"patron": patron, "amount": amount, "method": paid.method,
                                     "provider_transaction_id": paid.transaction_id})
        # settled and committed: now the ILS hears of it
        status, messages = self._post(patron, amount, receipt_no)
        return IlsPaymentResult(receipt, amount, status, messages)

    def _post(self, patron: str, amount: Fen, transaction_id: str) -> tuple[str, tuple[str, ...]]:
        payload = {"patron": patron, "amount": amount, "transaction_id": transaction_id}
        now = self.clock.now()
        try:
            posting = self.desk.ils.fee_paid(patron, amount, transaction_id=transaction_id)
        except SyncError as err:
            log.warning("fee paid %s not answered by the ILS: %s", transaction_id, err)
            allowed = self.desk.may_queue(QUEUE_FEE_PAID)
            queue_id = self.desk.queue.add(QUEUE_FEE_PAID, payload, at=now)
            if allowed:
                return QUEUED, ()
            self.desk.queue.settle(queue_id, "refused", "ILS unreachable; offline policy: "
                                   f"{self.desk.policy}", at=now)
            return REFUSED, ()
        if posting.accepted:
            return POSTED, posting.screen_messages
        queue_id = self.desk.queue.add(QUEUE_FEE_PAID, payload, at=now)
        self.desk.queue.settle(queue_id, "refused", " / ".join(posting.screen_messages), at=now)
        log.warning("the ILS refused fee paid %s: %s", transaction_id, posting.screen_messages)
        return REFUSED, posting.screen_messages

    def block_lost(self, patrons: list[str], message: str = "读者证挂失 card reported lost"
                   ) -> list[str]:
        """01 for each of the patron ids (the card numbers just blocked here); one the ILS
        cannot answer is queued (a block always waits). Returns the ones blocked now."""
        blocked: list[str] = []
        for patron in patrons:
            try:
                posting: Posting = self.desk.ils.block_patron(patron, message)
            except SyncError as err:
                log.warning("block of %s not answered by the ILS: %s (queued)", patron, err)
                self.desk.queue.add(QUEUE_BLOCK, {"patron": patron, "message": message},
                                    at=self.clock.now())
                continue
            if posting.accepted:
                blocked.append(patron)
        return blocked

    def renew(self, patron: str, item: str) -> Posting:
        """29 for one item the patron has out, unless the ILS denies the patron renewal
        privileges (IlsRenewalDenied, nothing sent); raises SyncError when the ILS cannot
        answer."""
        refuse_if_renewal_denied(self.account(patron))
        return self.desk.ils.renew(patron, item)

"""Pieces every use case shares: ids, masking, staff sessions, tenders and the charge step."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kiosk.services.errors import CashStaffOnly, OfflineLimitExceeded, OutOfService, RoleRequired
from kiosk.services.ports import (
    AlwaysOnline,
    Charge,
    ConnectivityProbe,
    EventProver,
    Payment,
    PaymentGateway,
)
from library_core.codes import payment_provider
from library_core.errors import KioskError, PaymentError, ValidationError
from library_core.money import Fen, format_fen
from library_core.rules import ACTION_CASH, STAFF_ROLES, payment_refusal

if TYPE_CHECKING:
    from kiosk.services.ports import UnitOfWork

log = logging.getLogger(__name__)


def new_id() -> str:
    return str(uuid.uuid4())


def mask_card_no(card_no: str) -> str:
    """``20000000012345`` -> ``2000****2345``."""
    if len(card_no) < 8:
        return "*" * len(card_no)
    return card_no[:4] + "****" + card_no[-4:]


def mask_name(name: str) -> str:
    """``张小明`` -> ``张**``; ``Li Wei`` -> ``L*****``: first character only."""
    name = name.strip()
    return name[:1] + "*" * max(0, len(name) - 1) if len(name) > 1 else name


class Role(enum.StrEnum):
    DESK = "desk"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A logged-in member of staff; passed into every staff-only use case."""

    staff_no: str
    name: str
    role: Role
    started_at: dt.datetime
    # signs the staff events made in this session (``staff_auth.StaffProver``): the record
    # server's session key online, the offline MAC key offline; None: events carry no proof
    prover: EventProver | None = field(default=None, repr=False, compare=False)

    @property
    def offline(self) -> bool:
        """Logged in with the offline verifier (the record server was out of reach)."""
        return self.prover is not None and self.prover.offline_policy is not None


def prover_of(staff: StaffSession | None) -> EventProver | None:
    """The prover for an event that names ``staff`` (None for self-service)."""
    return staff.prover if staff is not None else None


def require_role(session: StaffSession | None, *roles: Role) -> StaffSession:
    """Raises RoleRequired unless ``session`` has one of ``roles``."""
    if session is None or session.role not in roles:
        raise RoleRequired(None, "staff session required", roles=",".join(str(r) for r in roles))
    return session


class Method(enum.StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"
    CASH = "cash"


@dataclass(frozen=True, slots=True)
class Tender:
    """How the reader pays: a scanned payment code, or cash taken by staff."""

    code: str = ""
    cash: bool = False
    staff: StaffSession | None = None

    @classmethod
    def payment_code(cls, code: str) -> Tender:
        return cls(code=code.strip())

    @classmethod
    def cash_by(cls, staff: StaffSession) -> Tender:
        return cls(cash=True, staff=staff)

    def validate(self) -> None:
        """Raises CashStaffOnly or ValidationError (``payment.code_invalid``) before any charge."""
        if self.cash:
            if self.staff is None or self.staff.role not in STAFF_ROLES[ACTION_CASH]:
                raise CashStaffOnly()
            return
        if payment_provider(self.code) is None:
            raise ValidationError("payment.code_invalid", "not a WeChat Pay or Alipay code")


@dataclass(frozen=True, slots=True)
class OfflineLimit:
    """While the record server is out of reach, one payment may be at most ``max_fen``: a
    payment the server has not seen may already have been made at another kiosk. Cash taken by
    staff is exempt (they can see the drawer)."""

    probe: ConnectivityProbe
    max_fen: Fen

    @classmethod
    def unlimited(cls) -> OfflineLimit:
        return cls(AlwaysOnline(), 0)

    def check(self, tender: Tender | None, amount: Fen) -> None:
        """Raises OutOfService (``service.out_of_service``) for any payment while the server
        refuses this kiosk; OfflineLimitExceeded (``payment.offline_limit``) before any charge."""
        if tender is not None and amount > 0 and self.probe.out_of_service():
            log.warning("payment of %s fen refused: this kiosk's token was refused", amount)
            raise OutOfService(None, "the record server refused this kiosk's token")
        if amount <= self.max_fen or tender is None or tender.cash:
            return
        if self.probe.is_online():
            return
        log.warning("payment of %s fen refused: record server out of reach (limit %s fen)",
                    amount, self.max_fen)
        raise OfflineLimitExceeded(None, f"{amount} fen while offline", limit=self.max_fen,
                                   limit_text=format_fen(self.max_fen))


@dataclass(frozen=True, slots=True)
class Paid:
    """What the charge step took; ``amount`` 0 means nothing was due."""

    amount: Fen
    method: str
    transaction_id: str = ""
    charge: Charge | None = None


@contextmanager
def charged(gateway: PaymentGateway, tender: Tender | None, amount: Fen, reference: str, *,
            offline: OfflineLimit | None = None) -> Iterator[Paid]:
    """Take ``amount`` before the body runs; if the body raises, give the money back.

    Raises PaymentError (refused, timeout) from the gateway, CashStaffOnly, ValidationError,
    OfflineLimitExceeded (``offline`` says the server is out of reach and ``amount`` is above
    its limit).
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    if amount == 0:
        yield Paid(0, "")
        return
    if tender is None:
        raise ValidationError("payment.required", "a payment is needed")
    tender.validate()
    if offline is not None:
        offline.check(tender, amount)
    if tender.cash:
        yield Paid(amount, Method.CASH)
        return
    charge = gateway.charge(code=tender.code, amount=amount, reference=reference)
    try:
        yield Paid(amount, charge.provider, charge.transaction_id, charge)
    except BaseException as err:
        try:
            gateway.refund(charge, reason=f"{reference}: {type(err).__name__}")
            log.warning("charge %s refunded after failure: %s", charge.transaction_id, err)
            if isinstance(err, KioskError):  # the screen (and slip) say the money went back
                err.params.setdefault("refunded_text", format_fen(charge.amount))
                err.params.setdefault("refunded_fen", charge.amount)  # the refund slip's
                err.params.setdefault("refunded_method", charge.provider)
                err.params.setdefault("refunded_ref", charge.out_trade_no or charge.transaction_id)
        except Exception:  # the original failure stays the one raised; money needs a human
            log.critical("REFUND FAILED for charge %s (%s fen), reference %s",
                         charge.transaction_id, charge.amount, reference, exc_info=True)
        raise
    settled = getattr(gateway, "settled", None)  # the use case committed: the settle hook
    if settled is not None:
        settled(charge)


def provider_refs(paid: Paid) -> dict[str, str]:
    """The provider's transaction id and our out-trade-number for the ``payment.recorded``
    event (none for cash)."""
    charge = paid.charge
    refs = {"transaction_id": paid.transaction_id} if paid.transaction_id else {}
    if charge is not None and charge.out_trade_no:
        refs["out_trade_no"] = charge.out_trade_no
    return refs


def record_payment(uow: UnitOfWork, *, paid: Paid, reader_id: str | None, receipt_no: str,
                   allocations: list[tuple[str, Fen]], staff_no: str | None, now: dt.datetime,
                   kind: str = "payment") -> str:
    """Insert a payment (or refund) row and its allocations; returns payment_id."""
    if paid.amount <= 0:
        raise PaymentError("payment.nothing_due", "nothing to record")
    if kind == "payment" and payment_refusal(paid.amount, (a for _, a in allocations)):
        # the record server refuses such a payment (library_core.rules): never send one
        raise PaymentError("payment.nothing_due", "allocations do not match the amount")
    payment_id = new_id()
    uow.payments.add(Payment(payment_id, kind, reader_id, receipt_no, str(paid.method),
                             paid.transaction_id, paid.amount, staff_no, now), allocations)
    return payment_id

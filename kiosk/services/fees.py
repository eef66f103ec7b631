"""Fee payment: itemised open fees, pay all or some (oldest first unless chosen)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from kiosk.services.common import (
    OfflineLimit,
    StaffSession,
    Tender,
    charged,
    prover_of,
    provider_refs,
    record_payment,
)
from kiosk.services.config import ServicesConfig
from kiosk.services.errors import FeesOwed
from kiosk.services.ports import PaymentGateway
from kiosk.services.views import FeeView, fee_line, open_fees, reader_receipt
from library_core import events
from library_core.clock import CHINA_TZ, Clock
from library_core.errors import ConfigError, NotFound, ValidationError
from library_core.fees import FeeSchedule, fee_schedule_from_dict
from library_core.money import Fen
from library_core.receipts import Receipt, ReceiptKind

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories

log = logging.getLogger(__name__)


class PulledScheduleStore(Protocol):
    def pulled_fee_schedule(self, on: dt.date | None = None) -> dict[str, Any] | None:
        """The fee schedule last pulled from the record server (its ``to_dict`` form), or None;
        with ``on``, the one in force that day (a schedule published from a later day waits)."""
        ...


class PulledFeeSchedule:
    """``FeeScheduleSource``: the schedule the record server published and the kiosk last
    pulled; before the first pull (or if what was pulled does not validate) the config seed.

    Validated with the same ``fee_schedule_from_dict`` as ``config/fees.toml``; parsed once per
    distinct pulled value. Thread-safe (the UI thread quotes while a service thread charges).
    """

    def __init__(self, store: PulledScheduleStore, seed: FeeSchedule,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.seed = seed
        self.clock = clock  # with a clock: the schedule in force on its (library-local) day
        self._lock = threading.Lock()
        self._raw: str | None = None
        self._parsed: FeeSchedule = seed

    def current(self) -> FeeSchedule:
        today = self.clock.now().astimezone(CHINA_TZ).date() if self.clock else None
        data = self.store.pulled_fee_schedule(today)
        if data is None:
            return self.seed
        raw = json.dumps(data, sort_keys=True)
        with self._lock:
            if raw != self._raw:
                self._raw = raw
                try:
                    self._parsed = fee_schedule_from_dict(data)
                except ConfigError as err:  # a bad publication never prices a payment
                    log.error("pulled fee schedule refused (%s): pricing from the seed", err)
                    self._parsed = self.seed
            return self._parsed


@dataclass(frozen=True, slots=True)
class PaymentResult:
    payment_id: str
    receipt: Receipt
    amount: Fen
    allocations: tuple[tuple[str, Fen], ...]


def allocate(fees: list[FeeView], amount: Fen | None) -> list[tuple[str, Fen]]:
    """Spread ``amount`` over ``fees`` in order (all that is due when None)."""
    due = sum(f.due for f in fees)
    if amount is None:
        amount = due
    if amount <= 0 or due <= 0:
        raise ValidationError("payment.nothing_due", "nothing to pay")
    if amount > due:
        raise ValidationError("payment.too_much", "amount is more than is owed", due=due)
    out: list[tuple[str, Fen]] = []
    left = amount
    for f in fees:
        if left <= 0:
            break
        take = min(left, f.due)
        if take > 0:
            out.append((f.fee_id, take))
            left -= take
    return out


class FeeService:
    """Pay fees. Raises ValidationError, NotFound, PaymentError, CashStaffOnly,
    OfflineLimitExceeded, StoreError."""

    def __init__(self, repos: Repositories, clock: Clock, gateway: PaymentGateway,
                 config: ServicesConfig, *, offline: OfflineLimit | None = None) -> None:
        self.repos = repos
        self.clock = clock
        self.gateway = gateway
        self.cfg = config
        self.offline = offline or OfflineLimit.unlimited()

    def open_fees(self, reader_id: str) -> list[FeeView]:
        with self.repos.read() as view:
            return open_fees(view, reader_id)

    def pay(self, reader_id: str, tender: Tender | None, *, fee_ids: list[str] | None = None,
            amount: Fen | None = None, staff: StaffSession | None = None) -> PaymentResult:
        """Pay the chosen fees (all open ones, oldest first, when ``fee_ids`` is None), in full or
        ``amount`` of them. Validate -> charge -> commit payment, allocations, fee updates,
        ``payment.recorded``, audit and receipt in one transaction (refund on failure)."""
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
            raise ValidationError("money.invalid", "amount must be integer fen")
        staff = staff or (tender.staff if tender else None)
        now = self.clock.now()
        fees = self.open_fees(reader_id)
        if fee_ids is not None:
            by_id = {f.fee_id: f for f in fees}
            missing = [i for i in fee_ids if i not in by_id]
            if missing:
                raise NotFound("fee.not_open", f"not open: {missing}")
            fees = [by_id[i] for i in fee_ids]
        allocations = allocate(fees, amount)
        total = sum(a for _, a in allocations)
        if tender is None:
            raise ValidationError("payment.required", "a payment is needed")
        tender.validate()
        self.offline.check(tender, total)
        with charged(self.gateway, tender, total, f"fees:{reader_id}",
                     offline=self.offline) as paid, \
                self.repos.transaction() as uow:
            reader = uow.readers.get(reader_id)
            if reader is None:
                raise NotFound("reader.not_found", reader_id)
            current = {f.fee_id: f for f in open_fees(uow, reader_id)}
            lines = []
            for fee_id, part in allocations:
                f = current.get(fee_id)
                if f is None or f.due < part:
                    raise FeesOwed("fees.changed", "the fees changed meanwhile")
                new_paid = f.paid + part
                uow.fees.set_paid(fee_id, new_paid, "paid" if new_paid == f.amount else "open")
                lines.append(fee_line(f.kind, part, f.description))
            receipt_no = uow.receipts.next_receipt_no(now.date())
            active = uow.cards.of_reader(reader_id, ("active",))
            card = active[0] if active else None
            staff_no = staff.staff_no if staff else None
            receipt = reader_receipt(self.cfg, receipt_no=receipt_no, kind=ReceiptKind.PAYMENT,
                                     now=now, reader=reader,
                                     card_no=card.card_no if card else "", lines=lines,
                                     total=total, method=paid.method, staff_no=staff_no or "")
            uow.receipts.add(receipt)
            payment_id = record_payment(uow, paid=paid, reader_id=reader_id,
                                        receipt_no=receipt_no, allocations=allocations,
                                        staff_no=staff_no, now=now)
            uow.outbox.emit(events.PAYMENT_RECORDED, {
                "payment_id": payment_id, "reader_id": reader_id, "receipt_no": receipt_no,
                "method": paid.method, "amount": total,
                "allocations": [{"fee_id": f, "amount": a} for f, a in allocations],
                "staff_no": staff_no, **provider_refs(paid)}, occurred_at=now,
                prover=prover_of(staff))
            uow.audit.append(at=now, actor=staff_no or "self-service",
                             action="payment.recorded", subject=payment_id,
                             detail={"amount": total, "method": paid.method,
                                     "receipt_no": receipt_no})
        return PaymentResult(payment_id, receipt, total, tuple(allocations))

"""Self-service returns: scan items one after another; one receipt for the batch.

Each scan is its own transaction (a later failure never undoes an earlier check-in). An unknown
item or one not on loan is a result ("please hand it to the desk"), not an exception, so the
batch goes on. Scanning an item again says ``already_returned`` and changes nothing.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kiosk.services.circulation import CirculationDesk
from kiosk.services.common import StaffSession, new_id
from kiosk.services.config import ServicesConfig
from kiosk.services.ports import Fee
from kiosk.services.views import reader_receipt
from library_core import events
from library_core.clock import Clock
from library_core.codes import is_item_barcode
from library_core.contract import fee_description
from library_core.fees import FeeKind, days_overdue, overdue_fine
from library_core.money import Fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories

log = logging.getLogger(__name__)


class ReturnOutcome(enum.StrEnum):
    RETURNED = "returned"
    ALREADY_RETURNED = "already_returned"
    UNKNOWN_ITEM = "unknown_item"
    NOT_ON_LOAN = "not_on_loan"
    QUEUED = "queued"  # the ILS is unreachable: checked in here, forwarded when it is back
    ILS_UNREACHABLE = "ils_unreachable"  # ... and the offline policy (or its cap) says no


@dataclass(frozen=True, slots=True)
class ReturnResult:
    barcode: str
    outcome: ReturnOutcome
    title: str = ""
    fine: Fen = 0
    days_overdue: int = 0
    hold: bool = False
    fee_id: str | None = None
    sort_bin: str = ""  # the ILS's (SIP2 CL)
    messages: tuple[str, ...] = ()  # the ILS's screen messages, shown as sent
    print_lines: tuple[str, ...] = ()  # the ILS's print lines, printed on the receipt

    @property
    def message_id(self) -> str:
        """``return.ok``, ``return.already_returned``, ``return.unknown_item``, ``return.not_on_loan``."""
        return "return.ok" if self.outcome is ReturnOutcome.RETURNED else f"return.{self.outcome}"

    @property
    def to_desk(self) -> bool:
        return self.outcome in (ReturnOutcome.UNKNOWN_ITEM, ReturnOutcome.NOT_ON_LOAN,
                                ReturnOutcome.ILS_UNREACHABLE)


_CHECKED_IN = (ReturnOutcome.RETURNED, ReturnOutcome.QUEUED)


class ReturnService:
    """Check-ins: against our store, or at the ILS when a ``CirculationDesk`` is given
    (``kiosk.services.ils_returns``)."""

    def __init__(self, repos: Repositories, clock: Clock, config: ServicesConfig, *,
                 desk: CirculationDesk | None = None) -> None:
        self.repos = repos
        self.clock = clock
        self.cfg = config
        self.desk = desk

    def start(self, *, staff: StaffSession | None = None) -> ReturnSession:
        return ReturnSession(self, staff)

    def check_in(self, barcode: str, *, staff: StaffSession | None = None) -> ReturnResult:
        """Check one item in (idempotent). Raises StoreError only."""
        barcode = barcode.strip()
        if self.desk is not None:
            from kiosk.services.ils_returns import ils_check_in  # it builds ReturnResults

            return ils_check_in(self.desk, self.repos, self.clock, barcode, staff=staff)
        if not is_item_barcode(barcode):
            return ReturnResult(barcode, ReturnOutcome.UNKNOWN_ITEM)
        now = self.clock.now()
        today = now.date()
        actor = staff.staff_no if staff else "self-service"
        with self.repos.transaction() as uow:
            item = uow.loans.item(barcode)
            if item is None:
                return ReturnResult(barcode, ReturnOutcome.UNKNOWN_ITEM)
            loan = uow.loans.open_loan(barcode)
            if loan is None:
                last = uow.loans.last_returned_at(barcode)
                if last is not None and last[:10] == today.isoformat():
                    return ReturnResult(barcode, ReturnOutcome.ALREADY_RETURNED, item.title)
                return ReturnResult(barcode, ReturnOutcome.NOT_ON_LOAN, item.title)
            due = loan.due_on
            fine = overdue_fine(due, today, self.cfg.fee_schedule())
            late = days_overdue(due, today)
            hold = item.hold
            fee_id: str | None = None
            uow.loans.mark_returned(loan.loan_id, barcode, now)
            if fine > 0:
                fee_id = new_id()
                # language-neutral: the title and the days late as dates (due -> returned)
                description = fee_description(item.title,
                                              f" ({due.isoformat()} → {today.isoformat()})")
                uow.fees.add(Fee(fee_id, loan.reader_id, FeeKind.OVERDUE, fine, 0, "open",
                                 description, now.isoformat(), loan.loan_id, barcode))
                uow.outbox.emit(events.FEE_ASSESSED, {
                    "fee_id": fee_id, "reader_id": loan.reader_id, "kind": str(FeeKind.OVERDUE),
                    "amount": fine, "description": description, "loan_id": loan.loan_id,
                    "item_barcode": barcode}, occurred_at=now)
            uow.outbox.emit(events.LOAN_RETURNED, {
                "loan_id": loan.loan_id, "item_barcode": barcode, "reader_id": loan.reader_id,
                "returned_at": now.isoformat(), "fine_fee_id": fee_id, "hold": hold},
                occurred_at=now)
            uow.audit.append(at=now, actor=actor, action="loan.returned", subject=barcode,
                             detail={"loan_id": loan.loan_id, "fine": fine, "hold": hold})
        return ReturnResult(barcode, ReturnOutcome.RETURNED, item.title, fine, late, hold, fee_id)


@dataclass
class ReturnSession:
    """Collects the scans of one reader at the return station; ``finish()`` makes the receipt."""

    service: ReturnService
    staff: StaffSession | None = None
    results: list[ReturnResult] = field(default_factory=list)

    def scan(self, barcode: str) -> ReturnResult:
        barcode = barcode.strip()
        if any(r.barcode == barcode and r.outcome in _CHECKED_IN for r in self.results):
            first = next(r for r in self.results if r.barcode == barcode)
            result = ReturnResult(barcode, ReturnOutcome.ALREADY_RETURNED, first.title)
        else:
            result = self.service.check_in(barcode, staff=self.staff)
        self.results.append(result)
        return result

    @property
    def total_fines(self) -> Fen:
        return sum(r.fine for r in self.results)

    def finish(self) -> Receipt | None:
        """Store and return one receipt listing every scanned item (None if nothing scanned)."""
        if not self.results:
            return None
        svc = self.service
        now = svc.clock.now()
        lines = []
        for r in self.results:
            if r.outcome is ReturnOutcome.RETURNED:
                if r.fine:
                    detail_key, params = "receipt.line.overdue", {
                        "days": r.days_overdue, "amount": r.fine}
                else:
                    detail_key, params = "receipt.line.returned_on_time", {}
                lines.append(ReceiptLine(text=r.title or r.barcode, amount=r.fine or None,
                                         detail_key=detail_key, params=params))
                if r.hold:
                    lines.append(ReceiptLine(key="receipt.line.hold"))
                lines.extend(ReceiptLine(text=p) for p in r.print_lines)
            else:
                lines.append(ReceiptLine(text=r.title or r.barcode,
                                         detail_key=f"receipt.line.{r.outcome}"))
                lines.extend(ReceiptLine(text=m) for m in r.messages)  # the ILS's words
        with svc.repos.transaction() as uow:
            receipt_no = uow.receipts.next_receipt_no(now.date())
            receipt = reader_receipt(
                svc.cfg, receipt_no=receipt_no, kind=ReceiptKind.RETURNS, now=now, reader=None,
                lines=lines, total=self.total_fines or None,
                staff_no=self.staff.staff_no if self.staff else "",
                fields=(("receipt.field.items", str(sum(
                    r.outcome in _CHECKED_IN for r in self.results))),),
                footer_key="receipt.footer.returns")
            uow.receipts.add(receipt)
            uow.audit.append(at=now, actor=self.staff.staff_no if self.staff else "self-service",
                             action="returns.receipt", subject=receipt_no,
                             detail={"items": [r.barcode for r in self.results]})
        return receipt

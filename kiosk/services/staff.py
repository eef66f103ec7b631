"""Staff mode: log-in (staff number or staff card + PIN), fee waiver, deposit refund and card
cancellation, end-of-day report and close of day. Every action is audited with who did it."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from kiosk.services.common import (
    Method,
    Paid,
    Role,
    StaffSession,
    record_payment,
    require_role,
)
from kiosk.services.config import ServicesConfig
from kiosk.services.errors import FeesOwed
from kiosk.services.pinlock import check_pin
from kiosk.services.views import open_fees, reader_receipt
from library_core import events
from library_core.clock import Clock
from library_core.codes import is_card_no, is_staff_no
from library_core.errors import DomainError, NotFound, ValidationError
from library_core.fees import FeeKind
from library_core.money import Fen, format_fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine
from library_core.rules import LIVE_CARD_STATUSES, blocked_status

if TYPE_CHECKING:
    from server_client.store import Store, Tx

log = logging.getLogger(__name__)

# the Z-report sums fees by kind: a period-free label for each (no "{months}" to fill)
REPORT_FEE_KEYS: dict[str, str] = {
    FeeKind.DEPOSIT: "receipt.item.deposit",
    FeeKind.CARD: "receipt.item.card_fee",
    FeeKind.REPLACEMENT: "receipt.item.replacement_fee",
    FeeKind.RENEWAL: "receipt.item.renewal_fees",
    FeeKind.OVERDUE: "receipt.item.overdue_fine",
    FeeKind.LOST_ITEM: "receipt.item.lost_item",
}


@dataclass(frozen=True, slots=True)
class EndOfDayReport:
    day: str
    kiosk_id: str
    cards_issued: int
    cards_renewed: int
    cards_replaced: int
    cards_cancelled: int
    returns: int
    visitors: int
    payments: int
    fees_by_kind: dict[str, Fen] = field(default_factory=dict)
    taken_by_method: dict[str, Fen] = field(default_factory=dict)
    refunds_by_method: dict[str, Fen] = field(default_factory=dict)
    waived: Fen = 0
    fines_assessed: Fen = 0
    cash_expected: Fen = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CancelResult:
    reader_id: str
    cards: tuple[str, ...]
    deposit_refunded: Fen
    receipt: Receipt


class StaffService:
    """Raises PinWrong, PinLocked, NotFound (``staff.unknown``), RoleRequired, FeesOwed,
    DomainError (``day.already_closed``, ``fee.not_open``), StoreError."""

    def __init__(self, store: Store, clock: Clock, config: ServicesConfig) -> None:
        self.store = store
        self.clock = clock
        self.cfg = config

    def login(self, identifier: str, pin: str) -> StaffSession:
        """Staff number (``S0001``) or the number read from a staff card, then the PIN."""
        identifier = identifier.strip().upper()
        if not (is_staff_no(identifier) or is_card_no(identifier)):
            raise ValidationError("staff.unknown", "not a staff number or staff card")
        row = self.store.read_one("SELECT * FROM staff WHERE (staff_no = ? OR card_no = ?)"
                                  " AND active = 1", (identifier, identifier))
        if row is None:
            raise NotFound("staff.unknown", "no active staff with this number")
        check_pin(self.store, self.clock, self.cfg, table="staff", key=row["staff_no"], pin=pin,
                  actor=row["staff_no"])
        now = self.clock.now()
        with self.store.transaction() as tx:
            tx.audit(at=now, actor=row["staff_no"], action="staff.login", subject=row["staff_no"],
                     detail={"role": row["role"]})
        return StaffSession(row["staff_no"], row["name"], Role(row["role"]), now)

    def logout(self, session: StaffSession) -> None:
        with self.store.transaction() as tx:
            tx.audit(at=self.clock.now(), actor=session.staff_no, action="staff.logout",
                     subject=session.staff_no)

    def record_desk_action(self, session: StaffSession, action: str, subject: str = "",
                           **detail: object) -> None:
        """Audit a desk action that has no use case of its own (diagnostics, reprint)."""
        require_role(session, Role.DESK, Role.SUPERVISOR)
        with self.store.transaction() as tx:
            tx.audit(at=self.clock.now(), actor=session.staff_no, action=action,
                     subject=subject, detail=detail)

    def waive_fee(self, session: StaffSession, fee_id: str, reason: str) -> None:
        """Supervisor only: waive what is still due on an open fee."""
        require_role(session, Role.SUPERVISOR)
        reason = reason.strip()
        if not reason:
            raise ValidationError("waiver.reason_required", "a reason is required")
        now = self.clock.now()
        with self.store.transaction() as tx:
            fee = tx.one("SELECT * FROM fees WHERE fee_id = ?", (fee_id,))
            if fee is None or fee["status"] != "open":
                raise DomainError("fee.not_open", f"fee {fee_id} is not open")
            tx.update("fees", "fee_id", fee_id, {"status": "waived"})
            tx.emit(events.FEE_WAIVED, {"fee_id": fee_id, "reader_id": fee["reader_id"],
                                        "staff_no": session.staff_no, "reason": reason},
                    occurred_at=now)
            tx.audit(at=now, actor=session.staff_no, action="fee.waived", subject=fee_id,
                     detail={"amount": int(fee["amount"]) - int(fee["paid"]), "reason": reason})

    def refund_deposit_and_cancel(self, session: StaffSession, reader_id: str,
                                  reason: str) -> CancelResult:
        """Supervisor only: block and cancel the reader's cards, pay the deposit back in cash.
        Refused (``fees.owed_pay_first``) while fees are owed."""
        require_role(session, Role.SUPERVISOR)
        now = self.clock.now()
        with self.store.transaction() as tx:
            reader = tx.one("SELECT * FROM readers WHERE reader_id = ?", (reader_id,))
            if reader is None or reader["status"] != "active":
                raise NotFound("reader.not_found", reader_id)
            owed = sum(f.due for f in open_fees(tx, reader_id))
            if owed:
                raise FeesOwed("fees.owed_pay_first", "fees owed", owed=owed, owed_text=format_fen(owed))
            deposit_row = tx.one("SELECT coalesce(sum(paid), 0) FROM fees WHERE reader_id = ?"
                                 " AND kind = ?", (reader_id, str(FeeKind.DEPOSIT)))
            deposit = int(deposit_row[0]) if deposit_row else 0
            cards = {str(r["card_no"]): str(r["status"]) for r in tx.all(
                "SELECT card_no, status FROM cards WHERE reader_id = ? AND status IN (?, ?)"
                " ORDER BY rowid", (reader_id, *sorted(LIVE_CARD_STATUSES)))}
            for card_no, status in cards.items():
                tx.update("cards", "card_no", card_no,
                          {"status": blocked_status(status, "cancelled"), "blocked_at": now})
                tx.emit(events.CARD_BLOCKED, {"card_no": card_no, "reader_id": reader_id,
                                              "reason": "cancelled", "staff_no": session.staff_no},
                        occurred_at=now)
                tx.emit(events.CARD_CANCELLED, {"card_no": card_no, "reader_id": reader_id,
                                                "staff_no": session.staff_no,
                                                "deposit_refunded": deposit}, occurred_at=now)
            tx.update("readers", "reader_id", reader_id, {"status": "cancelled"})
            receipt_no = tx.next_receipt_no(now.date())
            receipt = reader_receipt(
                self.cfg, receipt_no=receipt_no, kind=ReceiptKind.REFUND, now=now, reader=reader,
                card_no=next(iter(cards), ""),
                lines=[ReceiptLine(key="receipt.item.deposit_refund", amount=deposit)],
                total=deposit, method=Method.CASH if deposit else "", staff_no=session.staff_no,
                fields=(("receipt.field.reason", reason),), footer_key="receipt.footer.refund")
            tx.add_receipt(receipt)
            if deposit:
                payment_id = record_payment(tx, paid=Paid(deposit, Method.CASH), reader_id=reader_id,
                                            receipt_no=receipt_no, allocations=[],
                                            staff_no=session.staff_no, now=now, kind="refund")
                tx.emit(events.DEPOSIT_REFUNDED, {
                    "payment_id": payment_id, "reader_id": reader_id, "receipt_no": receipt_no,
                    "amount": deposit, "staff_no": session.staff_no}, occurred_at=now)
            tx.audit(at=now, actor=session.staff_no, action="reader.cancelled", subject=reader_id,
                     detail={"cards": list(cards), "deposit_refunded": deposit, "reason": reason})
        return CancelResult(reader_id, tuple(cards), deposit, receipt)

    # -- end of day ----------------------------------------------------------------------------
    def end_of_day_report(self, session: StaffSession, day: dt.date | None = None) -> EndOfDayReport:
        require_role(session, Role.DESK, Role.SUPERVISOR)
        day = day or self.clock.now().date()
        with self.store.transaction() as tx:
            return self._report(tx, day)

    def _report(self, tx: Tx, day: dt.date) -> EndOfDayReport:
        d = day.isoformat()
        counts = {r["kind"]: int(r["n"]) for r in tx.all(
            "SELECT kind, count(*) AS n FROM outbox WHERE substr(occurred_at, 1, 10) = ?"
            " GROUP BY kind", (d,))}
        by_kind = {r["kind"]: int(r["total"]) for r in tx.all(
            "SELECT f.kind, sum(a.amount) AS total FROM payment_allocations a"
            " JOIN payments p ON p.payment_id = a.payment_id JOIN fees f ON f.fee_id = a.fee_id"
            " WHERE p.day = ? AND p.kind = 'payment' GROUP BY f.kind ORDER BY f.kind", (d,))}
        taken = {r["method"]: int(r["total"]) for r in tx.all(
            "SELECT method, sum(amount) AS total FROM payments WHERE day = ? AND kind = 'payment'"
            " GROUP BY method ORDER BY method", (d,))}
        refunds = {r["method"]: int(r["total"]) for r in tx.all(
            "SELECT method, sum(amount) AS total FROM payments WHERE day = ? AND kind = 'refund'"
            " GROUP BY method ORDER BY method", (d,))}
        n_payments = tx.one("SELECT count(*) FROM payments WHERE day = ? AND kind = 'payment'", (d,))
        waived = 0
        fines = 0
        for r in tx.all("SELECT kind, payload FROM outbox WHERE substr(occurred_at, 1, 10) = ?"
                        " AND kind IN (?, ?)", (d, events.FEE_WAIVED, events.FEE_ASSESSED)):
            payload = json.loads(r["payload"])
            if r["kind"] == events.FEE_ASSESSED and payload.get("kind") == FeeKind.OVERDUE:
                fines += int(payload["amount"])
            elif r["kind"] == events.FEE_WAIVED:
                fee = tx.one("SELECT amount, paid FROM fees WHERE fee_id = ?", (payload["fee_id"],))
                if fee is not None:
                    waived += int(fee["amount"]) - int(fee["paid"])
        return EndOfDayReport(
            day=d, kiosk_id=self.cfg.kiosk_id,
            cards_issued=counts.get(events.CARD_ISSUED, 0),
            cards_renewed=counts.get(events.CARD_RENEWED, 0),
            cards_replaced=counts.get(events.CARD_REPLACED, 0),
            cards_cancelled=counts.get(events.CARD_CANCELLED, 0),
            returns=counts.get(events.LOAN_RETURNED, 0),
            visitors=counts.get(events.VISIT_OPENED, 0),
            payments=int(n_payments[0]) if n_payments else 0,
            fees_by_kind=by_kind, taken_by_method=taken, refunds_by_method=refunds,
            waived=waived, fines_assessed=fines,
            cash_expected=taken.get(Method.CASH, 0) - refunds.get(Method.CASH, 0))

    def _report_receipt(self, report: EndOfDayReport, *, receipt_no: str, now: dt.datetime,
                        staff_no: str) -> Receipt:
        """The Z-report on paper: counts, takings by fee kind and by method, refunds, cash
        expected in the drawer. Every amount is a fen amount the layout prints as money."""
        def count(key: str, n: int) -> ReceiptLine:
            return ReceiptLine(key=key, quantity=n)

        lines = [
            count("receipt.item.cards_issued", report.cards_issued),
            count("receipt.item.cards_renewed", report.cards_renewed),
            count("receipt.item.cards_replaced", report.cards_replaced),
            count("receipt.item.cards_cancelled", report.cards_cancelled),
            count("receipt.item.returns", report.returns),
            count("receipt.item.visitors", report.visitors),
            count("receipt.item.payments", report.payments),
            *(ReceiptLine(key=REPORT_FEE_KEYS.get(k, "receipt.item.fees_paid"), amount=v)
              for k, v in report.fees_by_kind.items()),
            *(ReceiptLine(key="receipt.item.by_method", amount=v, params={"method": m})
              for m, v in report.taken_by_method.items()),
            *(ReceiptLine(key="receipt.item.refunds_by_method", amount=v, params={"method": m})
              for m, v in report.refunds_by_method.items()),
        ]
        if report.fines_assessed:
            lines.append(ReceiptLine(key="receipt.item.fines_assessed",
                                     amount=report.fines_assessed))
        if report.waived:
            lines.append(ReceiptLine(key="receipt.item.waived", amount=report.waived))
        lines.append(ReceiptLine(key="receipt.field.cash_expected", amount=report.cash_expected))
        return Receipt(
            receipt_no=receipt_no, kind=ReceiptKind.END_OF_DAY, kiosk_id=self.cfg.kiosk_id,
            issued_at=now, language=self.cfg.language, library_name=self.cfg.library_name,
            library_name_en=self.cfg.library_name_en, lines=tuple(lines),
            total=sum(report.taken_by_method.values()), staff_no=staff_no,
            fields=(("receipt.field.business_date", report.day),),
            footer_key="receipt.footer.end_of_day")

    def close_day(self, session: StaffSession) -> tuple[EndOfDayReport, Receipt]:
        """Supervisor only: the report, its receipt and a ``day.closed`` event, once per day."""
        require_role(session, Role.SUPERVISOR)
        now = self.clock.now()
        day = now.date()
        with self.store.transaction() as tx:
            if tx.one("SELECT 1 FROM days_closed WHERE day = ?", (day.isoformat(),)) is not None:
                raise DomainError("day.already_closed", "this day is already closed",
                                  day=day.isoformat())
            report = self._report(tx, day)
            receipt = self._report_receipt(report, receipt_no=tx.next_receipt_no(day), now=now,
                                           staff_no=session.staff_no)
            tx.add_receipt(receipt)
            tx.insert("days_closed", {"day": report.day, "staff_no": session.staff_no,
                                      "closed_at": now,
                                      "report": json.dumps(report.to_dict(), sort_keys=True)})
            tx.emit(events.DAY_CLOSED, {"report": report.to_dict(), "staff_no": session.staff_no},
                    occurred_at=now)
            tx.audit(at=now, actor=session.staff_no, action="day.closed", subject=report.day,
                     detail={"cash_expected": report.cash_expected})
        return report, receipt



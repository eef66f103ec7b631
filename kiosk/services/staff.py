"""Staff mode: log-in (staff number or staff card + PIN), fee waiver, deposit refund and card
cancellation, end-of-day report and close of day. Every action is audited with who did it."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from kiosk.services.common import (
    Method,
    Paid,
    Role,
    StaffSession,
    prover_of,
    record_payment,
    require_role,
)
from kiosk.services.config import ServicesConfig
from kiosk.services.errors import FeesOwed
from kiosk.services.staff_auth import (
    OfflineStaffLogin,
    StaffLoginRefused,
    StaffOfflineUnavailable,
    StaffProver,
)
from kiosk.services.views import open_fees, reader_receipt
from library_core import events
from library_core.cash_count import check_cash_count
from library_core.clock import Clock
from library_core.codes import is_card_no, is_staff_no
from library_core.errors import DomainError, NotFound, SyncError, ValidationError
from library_core.fees import FeeKind
from library_core.money import Fen, format_fen
from library_core.receipts import Receipt, ReceiptKind, ReceiptLine
from library_core.rules import (
    ACTION_CANCEL,
    ACTION_CLOSE_DAY,
    ACTION_WAIVE,
    LIVE_CARD_STATUSES,
    STAFF_ROLES,
    blocked_status,
    day_metrics,
)

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories, StaffAuthority, UnitOfWork

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

    @property
    def taken_total(self) -> Fen:
        """The day's takings over every method: the Z-report's total and the close-day preview's."""
        return sum(self.taken_by_method.values())


@dataclass(frozen=True, slots=True)
class CancelResult:
    reader_id: str
    cards: tuple[str, ...]
    deposit_refunded: Fen
    receipt: Receipt


class StaffService:
    """Raises PinWrong, PinLocked, NotFound (``staff.unknown``), RoleRequired, FeesOwed,
    DomainError (``day.already_closed``, ``fee.not_open``), StoreError."""

    def __init__(self, repos: Repositories, clock: Clock, config: ServicesConfig,
                 authority: StaffAuthority | None = None) -> None:
        self.repos = repos
        self.clock = clock
        self.cfg = config
        self.authority = authority  # None: no record server to check a log-in (refused)
        self.offline = OfflineStaffLogin(repos, clock, config)

    def login(self, identifier: str, pin: str) -> StaffSession:
        """Staff number (``S0001``) or the number read from a staff card, then the PIN, checked
        by the record server (the kiosk holds no staff PIN hash). Out of reach, the offline
        verifier of an earlier online log-in here checks it (``staff_auth``).

        Raises ValidationError / NotFound (``staff.unknown``), StaffLoginRefused,
        StaffOfflineUnavailable, PinWrong / PinLocked (offline)."""
        identifier = identifier.strip().upper()
        if not (is_staff_no(identifier) or is_card_no(identifier)):
            raise ValidationError("staff.unknown", "not a staff number or staff card")
        if self.authority is None:
            raise StaffOfflineUnavailable(None, "no record server to check staff log-ins")
        try:
            grant = self.authority.open_staff_session(identifier, pin)
        except StaffLoginRefused:
            raise
        except SyncError as err:
            log.warning("staff log-in: record server out of reach (%s); trying offline", err)
            return self._offline_login(identifier, pin)
        self.offline.remember(grant)
        now = self.clock.now()
        with self.repos.transaction() as uow:
            uow.audit.append(at=now, actor=grant.staff_no, action="staff.login",
                             subject=grant.staff_no, detail={"role": grant.role})
        return StaffSession(grant.staff_no, grant.name, Role(grant.role), now,
                            prover=StaffProver("online", grant.session_id, grant.session_key,
                                               valid_until=grant.expires_at))

    def _offline_login(self, identifier: str, pin: str) -> StaffSession:
        with self.repos.read() as view:
            member = view.staff.active(identifier)
        if member is None:
            raise StaffLoginRefused(None, "no active staff with this number")
        verifier, prover = self.offline.check(member, pin)
        return StaffSession(member.staff_no, member.name, Role(verifier.role), self.clock.now(),
                            prover=prover)

    def logout(self, session: StaffSession) -> None:
        with self.repos.transaction() as uow:
            uow.audit.append(at=self.clock.now(), actor=session.staff_no, action="staff.logout",
                             subject=session.staff_no)

    def record_desk_action(self, session: StaffSession, action: str, subject: str = "",
                           **detail: object) -> None:
        """Audit a desk action that has no use case of its own (diagnostics, reprint)."""
        require_role(session, Role.DESK, Role.SUPERVISOR)
        with self.repos.transaction() as uow:
            uow.audit.append(at=self.clock.now(), actor=session.staff_no, action=action,
                             subject=subject, detail=detail)

    def diagnostics_viewed(self, session: StaffSession) -> None:
        """Audit that staff opened the device diagnostics (``device.diagnostics``)."""
        self.record_desk_action(session, "device.diagnostics")

    def receipt_reprinted(self, session: StaffSession, receipt_no: str, *, printed: bool,
                          reason: str) -> None:
        """Audit a reprint from the journal (``receipt.reprinted``): whether it printed, and the
        printer's message id when it did not."""
        self.record_desk_action(session, "receipt.reprinted", receipt_no, printed=printed,
                                reason=reason)

    def waive_fee(self, session: StaffSession, fee_id: str, reason: str) -> None:
        """Supervisor only: waive what is still due on an open fee."""
        require_role(session, *map(Role, sorted(STAFF_ROLES[ACTION_WAIVE])))
        reason = reason.strip()
        if not reason:
            raise ValidationError("waiver.reason_required", "a reason is required")
        now = self.clock.now()
        with self.repos.transaction() as uow:
            fee = uow.fees.get(fee_id)
            if fee is None or fee.status != "open":
                raise DomainError("fee.not_open", f"fee {fee_id} is not open")
            uow.fees.set_status(fee_id, "waived")
            uow.outbox.emit(events.FEE_WAIVED, {"fee_id": fee_id, "reader_id": fee.reader_id,
                                                "staff_no": session.staff_no, "reason": reason},
                            occurred_at=now, prover=prover_of(session))
            uow.audit.append(at=now, actor=session.staff_no, action="fee.waived", subject=fee_id,
                             detail={"amount": fee.due, "reason": reason})

    def refund_deposit_and_cancel(self, session: StaffSession, reader_id: str,
                                  reason: str) -> CancelResult:
        """Supervisor only: block and cancel the reader's cards, pay the deposit back in cash.
        Refused (``fees.owed_pay_first``) while fees are owed."""
        require_role(session, *map(Role, sorted(STAFF_ROLES[ACTION_CANCEL])))
        now = self.clock.now()
        with self.repos.transaction() as uow:
            reader = uow.readers.get(reader_id)
            if reader is None or reader.status != "active":
                raise NotFound("reader.not_found", reader_id)
            owed = sum(f.due for f in open_fees(uow, reader_id))
            if owed:
                raise FeesOwed("fees.owed_pay_first", "fees owed", owed=owed, owed_text=format_fen(owed))
            deposit = uow.fees.paid_of_kind(reader_id, str(FeeKind.DEPOSIT))
            cards = {c.card_no: c.status for c in uow.cards.of_reader(reader_id, LIVE_CARD_STATUSES)}
            last = next(reversed(cards), None)
            for card_no, status in cards.items():
                after = blocked_status(status, "cancelled")
                assert after is not None  # a live card always takes the cancellation
                uow.cards.set_status(card_no, after, blocked_at=now)
                uow.outbox.emit(events.CARD_BLOCKED, {
                    "card_no": card_no, "reader_id": reader_id, "reason": "cancelled",
                    "staff_no": session.staff_no}, occurred_at=now, prover=prover_of(session))
                # the deposit goes back once, with the last card: the server refuses a refund
                # while another card of the reader is still live (rules.deposit_refund_refusal)
                uow.outbox.emit(events.CARD_CANCELLED, {
                    "card_no": card_no, "reader_id": reader_id, "staff_no": session.staff_no,
                    "deposit_refunded": deposit if card_no == last else 0}, occurred_at=now,
                    prover=prover_of(session))
            uow.readers.set_status(reader_id, "cancelled")
            receipt_no = uow.receipts.next_receipt_no(now.date())
            receipt = reader_receipt(
                self.cfg, receipt_no=receipt_no, kind=ReceiptKind.REFUND, now=now, reader=reader,
                card_no=next(iter(cards), ""),
                lines=[ReceiptLine(key="receipt.item.deposit_refund", amount=deposit)],
                total=deposit, method=Method.CASH if deposit else "", staff_no=session.staff_no,
                fields=(("receipt.field.reason", reason),), footer_key="receipt.footer.refund")
            uow.receipts.add(receipt)
            if deposit:
                payment_id = record_payment(uow, paid=Paid(deposit, Method.CASH),
                                            reader_id=reader_id, receipt_no=receipt_no,
                                            allocations=[], staff_no=session.staff_no, now=now,
                                            kind="refund")
                uow.outbox.emit(events.DEPOSIT_REFUNDED, {
                    "payment_id": payment_id, "reader_id": reader_id, "receipt_no": receipt_no,
                    "amount": deposit, "staff_no": session.staff_no}, occurred_at=now,
                    prover=prover_of(session))
            uow.audit.append(at=now, actor=session.staff_no, action="reader.cancelled",
                             subject=reader_id, detail={"cards": list(cards),
                                                        "deposit_refunded": deposit,
                                                        "reason": reason})
        return CancelResult(reader_id, tuple(cards), deposit, receipt)

    # -- end of day ----------------------------------------------------------------------------
    def end_of_day_report(self, session: StaffSession, day: dt.date | None = None) -> EndOfDayReport:
        require_role(session, Role.DESK, Role.SUPERVISOR)
        day = day or self.clock.now().date()
        with self.repos.transaction() as uow:
            return self._report(uow, day)

    def _report(self, uow: UnitOfWork, day: dt.date) -> EndOfDayReport:
        """The day's counts from the outbox, its money from ``library_core.rules.day_metrics``
        (the record server's daily report counts payments the same way)."""
        counts = uow.outbox.counts_of_day(day)
        by_kind = uow.payments.paid_by_fee_kind(day)
        money = day_metrics(uow.payments.of_day(day))
        waived = 0
        fines = 0
        for kind, payload in uow.outbox.payloads_of_day(day, (events.FEE_WAIVED,
                                                             events.FEE_ASSESSED)):
            if kind == events.FEE_ASSESSED and payload.get("kind") == FeeKind.OVERDUE:
                fines += int(payload["amount"])
            elif kind == events.FEE_WAIVED:
                fee = uow.fees.get(payload["fee_id"])
                if fee is not None:
                    waived += fee.due
        return EndOfDayReport(
            day=day.isoformat(), kiosk_id=self.cfg.kiosk_id,
            cards_issued=counts.get(events.CARD_ISSUED, 0),
            cards_renewed=counts.get(events.CARD_RENEWED, 0),
            cards_replaced=counts.get(events.CARD_REPLACED, 0),
            cards_cancelled=counts.get(events.CARD_CANCELLED, 0),
            returns=counts.get(events.LOAN_RETURNED, 0),
            visitors=counts.get(events.VISIT_OPENED, 0),
            payments=money.payments,
            fees_by_kind=by_kind, taken_by_method=dict(money.taken_by_method),
            refunds_by_method=dict(money.refunds_by_method),
            waived=waived, fines_assessed=fines, cash_expected=money.cash_expected(Method.CASH))

    def _report_receipt(self, report: EndOfDayReport, *, receipt_no: str, now: dt.datetime,
                        staff_no: str, cash_counted: Fen | None = None) -> Receipt:
        """The Z-report on paper: counts, takings by fee kind and by method, refunds, cash
        expected in the drawer and, when counted, the count and the difference (counted -
        expected, as the console shows it). Every amount is fen the layout prints as money."""
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
        if cash_counted is not None:
            lines.append(ReceiptLine(key="receipt.field.cash_counted", amount=cash_counted))
            lines.append(ReceiptLine(key="receipt.field.cash_difference",
                                     amount=cash_counted - report.cash_expected))
        return Receipt(
            receipt_no=receipt_no, kind=ReceiptKind.END_OF_DAY, kiosk_id=self.cfg.kiosk_id,
            issued_at=now, language=self.cfg.language, library_name=self.cfg.library_name,
            library_name_en=self.cfg.library_name_en, lines=tuple(lines),
            total=report.taken_total, staff_no=staff_no,
            fields=(("receipt.field.business_date", report.day),),
            footer_key="receipt.footer.end_of_day")

    def close_day(self, session: StaffSession, *,
                  cash_counted: Fen | None = None) -> tuple[EndOfDayReport, Receipt]:
        """Supervisor only: the report, its receipt and a ``day.closed`` event, once per day.
        ``cash_counted``: the drawer as the supervisor counted it, carried in the event's report
        (the console sets it against the server's cash expected) and printed with the difference.

        Raises ValidationError ``cash_count.*`` for a count below zero or over the limit, and
        DomainError ``day.already_closed``; nothing is written then."""
        require_role(session, *map(Role, sorted(STAFF_ROLES[ACTION_CLOSE_DAY])))
        if cash_counted is not None:
            check_cash_count(cash_counted)
        now = self.clock.now()
        day = now.date()
        with self.repos.transaction() as uow:
            if uow.days.is_closed(day):
                raise DomainError("day.already_closed", "this day is already closed",
                                  day=day.isoformat())
            report = self._report(uow, day)
            receipt = self._report_receipt(report, receipt_no=uow.receipts.next_receipt_no(day),
                                           now=now, staff_no=session.staff_no,
                                           cash_counted=cash_counted)
            uow.receipts.add(receipt)
            closed = report.to_dict()
            if cash_counted is not None:
                closed["cash_counted"] = cash_counted
            uow.days.close(report.day, staff_no=session.staff_no, at=now, report=closed)
            uow.outbox.emit(events.DAY_CLOSED, {"report": closed,
                                                "staff_no": session.staff_no}, occurred_at=now,
                            prover=prover_of(session))
            uow.audit.append(at=now, actor=session.staff_no, action="day.closed",
                             subject=report.day, detail={"cash_expected": report.cash_expected,
                                                          "cash_counted": cash_counted})
        return report, receipt



"""Visitors: register (with consent), signed pass valid until closing, sign out by pass,
on-site roster, automatic close of open visits at closing."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk.services.common import Role, StaffSession, mask_name, require_role
from kiosk.services.config import ServicesConfig
from kiosk.services.ports import VisitRecord
from library_core import events
from library_core.clock import Clock
from library_core.errors import DomainError, NotFound, ValidationError
from library_core.identity import (
    mask_mobile,
    mask_resident_id,
    validate_mobile,
    validate_resident_id,
)
from library_core.receipts import FieldValue, Receipt, ReceiptKind, ReceiptLine
from library_core.tokens import VisitorPass, decode_visitor_pass, encode_visitor_pass
from library_core.visits import PURPOSES, Department

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VisitorRequest:
    name: str
    phone: str
    purpose: str
    host_department: str
    consent: bool
    id_number: str = ""


@dataclass(frozen=True, slots=True)
class Visit:
    visit_id: str
    name_masked: str
    phone_masked: str
    purpose: str
    host_department: str
    opened_at: dt.datetime
    expires_at: dt.datetime
    closed_at: dt.datetime | None
    closed_how: str | None


@dataclass(frozen=True, slots=True)
class VisitResult:
    visit: Visit
    pass_text: str
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class SignOutResult:
    visit: Visit
    already_closed: bool


def _visit(row: VisitRecord) -> Visit:
    return Visit(
        visit_id=row.visit_id, name_masked=mask_name(row.name),
        phone_masked=row.phone, purpose=row.purpose,  # stored masked
        host_department=row.host_department, opened_at=row.opened_at,
        expires_at=row.expires_at, closed_at=row.closed_at, closed_how=row.closed_how)


def purpose_value(purpose: str) -> str:
    """A listed purpose as its receipt message id (``receipt.purpose.reading``); free text as it is."""
    return f"receipt.purpose.{purpose}" if purpose in PURPOSES else purpose


class VisitorService:
    """Raises ValidationError (``visitor.consent_required``, ``visitor.field``...), DomainError
    (``visitor.closed`` after closing), NotFound (``visitor.not_found``), TokenError, StoreError."""

    def __init__(self, repos: Repositories, clock: Clock, config: ServicesConfig) -> None:
        self.repos = repos
        self.clock = clock
        self.cfg = config

    def departments(self) -> tuple[Department, ...]:
        """The host departments a visitor can pick (from config, named in both languages)."""
        return self.cfg.departments

    def department_value(self, code: str) -> FieldValue:
        """A configured department as its names in both languages; other text as it is."""
        department = self.cfg.department(code)
        return department.names() if department is not None else code

    def register(self, req: VisitorRequest) -> VisitResult:
        now = self.clock.now()
        if not req.consent:
            raise ValidationError("visitor.consent_required", "consent to the privacy notice is required")
        name = req.name.strip()
        purpose = req.purpose.strip()
        dept = req.host_department.strip()
        for key, value in (("name", name), ("purpose", purpose), ("host_department", dept)):
            if not 1 <= len(value) <= 60:
                raise ValidationError("visitor.field", f"{key} must be 1 to 60 characters", field=key)
        phone = validate_mobile(req.phone)
        id_number = validate_resident_id(req.id_number, today=now.date()) if req.id_number.strip() else None
        opening = dt.datetime.combine(now.date(), self.cfg.opening_time, tzinfo=now.tzinfo)
        if now < opening:
            raise DomainError("visitor.not_open", "the library is not open yet",
                              opening=opening.strftime("%H:%M"))
        closing = self.cfg.closing_on(now.date(), now.tzinfo)
        if now >= closing:
            raise DomainError("visitor.closed", "the library is closed", closing=closing.strftime("%H:%M"))
        with self.repos.transaction() as uow:
            visit_no = uow.counters.next("visit_no")
            visit_id = f"{self.cfg.kiosk_id}-V{visit_no:06d}"
            pass_text = encode_visitor_pass(VisitorPass(self.cfg.kiosk_no, visit_no, closing),
                                            self.cfg.library_key)
            # the kiosk keeps the phone and ID number masked; the clear values go to the
            # server in the event only (scrubbed from the outbox once it is answered)
            visit = VisitRecord(
                visit_id=visit_id, visit_no=visit_no, name=name, phone=mask_mobile(phone),
                id_number=mask_resident_id(id_number) if id_number else None, purpose=purpose,
                host_department=dept, opened_at=now, expires_at=closing, pass_token=pass_text)
            uow.visits.add(visit, consent_at=now)
            uow.outbox.emit(events.VISIT_OPENED, {
                "visit_id": visit_id, "name": name, "phone": phone, "id_number": id_number,
                "purpose": purpose, "host_department": dept, "expires_at": closing.isoformat()},
                occurred_at=now)
            receipt_no = uow.receipts.next_receipt_no(now.date())
            receipt = Receipt(
                receipt_no=receipt_no, kind=ReceiptKind.VISITOR_PASS, kiosk_id=self.cfg.kiosk_id,
                issued_at=now, language=self.cfg.language, library_name=self.cfg.library_name,
                library_name_en=self.cfg.library_name_en,
                reader_name=mask_name(name), phone_masked=mask_mobile(phone),
                id_masked=mask_resident_id(id_number) if id_number else "",
                fields=(("receipt.field.purpose", purpose_value(purpose)),
                        ("receipt.field.host_department", self.department_value(dept)),
                        ("receipt.field.valid_until", closing.strftime("%Y-%m-%d %H:%M"))),
                qr_data=pass_text, footer_key="receipt.footer.visitor_pass")
            uow.receipts.add(receipt)
            uow.audit.append(at=now, actor="self-service", action="visit.opened",
                             subject=visit_id)
        return VisitResult(_visit(visit), pass_text, receipt)

    def _close(self, uow: UnitOfWork, row: VisitRecord, now: dt.datetime, how: str,
               actor: str) -> None:
        uow.visits.close(row.visit_id, now, how)
        uow.outbox.emit(events.VISIT_CLOSED, {"visit_id": row.visit_id,
                                              "closed_at": now.isoformat(), "how": how},
                        occurred_at=now)
        uow.audit.append(at=now, actor=actor, action="visit.closed", subject=row.visit_id,
                         detail={"how": how})

    def sign_out(self, pass_text: str) -> SignOutResult:
        """Close the visit of a scanned pass (a second scan says ``already_closed``)."""
        vp = decode_visitor_pass(pass_text.strip(), self.cfg.library_key)
        now = self.clock.now()
        with self.repos.transaction() as uow:
            row = uow.visits.by_pass(vp.visit_no, pass_text.strip())
            if vp.kiosk_no != self.cfg.kiosk_no or row is None:
                raise NotFound("visitor.not_found", "no such visit on this kiosk")
            if row.closed_at:
                return SignOutResult(_visit(row), True)
            self._close(uow, row, now, "scanned", "self-service")
            row = uow.visits.get(row.visit_id)
            assert row is not None
        return SignOutResult(_visit(row), False)

    def close_by_staff(self, staff: StaffSession, visit_id: str) -> None:
        require_role(staff, Role.DESK, Role.SUPERVISOR)
        now = self.clock.now()
        with self.repos.transaction() as uow:
            row = uow.visits.get(visit_id)
            if row is None:
                raise NotFound("visitor.not_found", visit_id)
            if not row.closed_at:
                self._close(uow, row, now, "staff", staff.staff_no)

    def roster(self) -> list[Visit]:
        """Everyone on site now (open visits), oldest first."""
        with self.repos.read() as view:
            return [_visit(r) for r in view.visits.open_visits()]

    def roster_receipt(self, staff: StaffSession) -> Receipt:
        """The on-site roster as a printable receipt (stored in the journal)."""
        require_role(staff, Role.DESK, Role.SUPERVISOR)
        now = self.clock.now()
        with self.repos.transaction() as uow:
            rows = uow.visits.open_visits()
            lines = tuple(ReceiptLine(text=f"{mask_name(r.name)} {r.phone}",
                                      detail_key="receipt.line.host_since",
                                      params={"department": self.department_value(
                                                  r.host_department),
                                              "time": r.opened_at.strftime("%H:%M")})
                          for r in rows)
            receipt = Receipt(
                receipt_no=uow.receipts.next_receipt_no(now.date()), kind=ReceiptKind.ROSTER,
                kiosk_id=self.cfg.kiosk_id, issued_at=now, language=self.cfg.language,
                library_name=self.cfg.library_name, library_name_en=self.cfg.library_name_en,
                lines=lines, staff_no=staff.staff_no,
                fields=(("receipt.field.on_site", str(len(rows))),),
                footer_key="receipt.footer.roster")
            uow.receipts.add(receipt)
            uow.audit.append(at=now, actor=staff.staff_no, action="visit.roster",
                             subject=receipt.receipt_no, detail={"on_site": len(rows)})
        return receipt

    def auto_close(self) -> int:
        """Close every open visit whose pass has run out (the app calls this on a timer)."""
        now = self.clock.now()
        with self.repos.transaction() as uow:
            rows = [r for r in uow.visits.open_visits() if r.expires_at <= now]
            for row in rows:
                self._close(uow, row, now, "auto", "system")
        if rows:
            log.info("closed %d visits at closing time", len(rows))
        return len(rows)

# mypy: disable-error-code="valid-type"
"""Request and response bodies (pydantic, ``extra='forbid'``); the event envelope, the per-kind
event payloads and the change page come from the sync contract (``library_core.contract``).

The envelope is checked for the whole request (a malformed batch is a 422 and changes nothing);
each payload is checked per event, so one bad event is answered ``rejected`` with the field that
failed, and the rest of the batch goes on.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from library_core.contract import (  # noqa: F401 - re-exported: apply and the routes use them
    CONTRACT_VERSION,
    MAX_FEN,
    MAX_SEQ,
    PAYLOADS,
    TITLE_MAX,
    Allocation,
    Barcode,
    CardBlocked,
    CardCancelled,
    CardIssued,
    CardNo,
    CardRenewed,
    CardReplaced,
    Change,
    ChangesPage,
    DayClosed,
    DepositRefunded,
    DeviceStatus,
    EntityId,
    EventEnvelope,
    EventKind,
    FeeAssessed,
    FeeWaived,
    Fen,
    IsoDate,
    IsoDateTime,
    KioskId,
    LoanReturned,
    Name,
    PaymentRecorded,
    Pin,
    PinHash,
    QuarantinedRow,
    ReaderRegistered,
    StaffNo,
    Strict,
    VisitClosed,
    VisitOpened,
    text,
)


class PushRequest(Strict):
    """A batch of events, and the pulled rows the kiosk set aside since its last push (at least
    one of the two)."""

    events: Annotated[list[EventEnvelope], Field(max_length=500)]
    quarantined: Annotated[list[QuarantinedRow], Field(max_length=500)] = []
    # the kiosk's devices and sync as it sees them (library_core.contract.status), each sync
    device_status: DeviceStatus | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> PushRequest:
        if not self.events and not self.quarantined and self.device_status is None:
            raise ValueError("events: at least one event, unless quarantined rows or the "
                             "device status are reported")
        return self


class EventResult(BaseModel):
    event_id: str
    status: Literal["applied", "duplicate", "conflict", "rejected"]
    detail: str | None = None
    rule: str | None = None


class PushResponse(BaseModel):
    results: list[EventResult]
    next_seq: int


class EnrollRequest(Strict):
    kiosk_id: KioskId
    code: text(64, min_length=8)


class TokenResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    # the kiosk's number, assigned by the server at enrollment: its card/receipt/visit ranges
    kiosk_no: int | None = None


class KioskPosition(BaseModel):
    """Where a kiosk stands on the server (a wiped or restored kiosk resumes from here): the
    next event seq it must use, and the highest local counter it has used in each range."""

    kiosk_id: str
    kiosk_no: int
    next_seq: int
    card_serial: int  # highest card serial counter (the card number is kiosk_no * 10^8 + it)
    visit_no: int
    receipts: dict[str, int]  # day (YYYY-MM-DD) -> highest receipt number used or reserved


class StaffLogin(Strict):
    staff_no: StaffNo
    pin: Pin


class StaffTokenResponse(TokenResponse):
    staff_no: str
    role: str
    expires_at: str


class BlockCardRequest(Strict):
    reason: Literal["lost", "cancelled"] = "lost"
    note: text(200, min_length=0) = ""


class CardPublic(BaseModel):
    card_no: str
    reader_id: str
    uid: str
    generation: int
    status: str
    issued_at: str
    expires_on: str


class ItemUpsert(Strict):
    barcode: Barcode
    title: text(TITLE_MAX)
    author: text(200, min_length=0) = ""
    call_no: text(64, min_length=0) = ""
    hold: bool = False


class LoanCreate(Strict):
    loan_id: EntityId
    item_barcode: Barcode
    reader_id: EntityId
    borrowed_at: dt.datetime | None = None
    due_on: dt.date

    @field_validator("due_on")
    @classmethod
    def _due_range(cls, value: dt.date) -> dt.date:
        if not 2000 <= value.year <= 2200:
            raise ValueError("due_on is out of range")
        return value


class LoanRenew(Strict):
    due_on: dt.date

    _due = field_validator("due_on")(LoanCreate._due_range.__func__)  # type: ignore[attr-defined]


class ConflictPublic(BaseModel):
    id: int
    rule: str
    kiosk_id: str | None
    event_id: str | None
    entity: str
    entity_id: str
    decision: str
    detail: dict[str, Any]
    created_at: str
    resolved: bool


class RevokeResponse(BaseModel):
    kiosk_id: str
    revoked_at: str


class Problem(BaseModel):
    detail: str

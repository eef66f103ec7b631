# mypy: disable-error-code="valid-type"
"""Request and response bodies (pydantic, ``extra='forbid'``) and per-kind event payloads.

The envelope is checked for the whole request (a malformed batch is a 422 and changes nothing);
each payload is checked per event, so one bad event is answered ``rejected`` with the field that
failed, and the rest of the batch goes on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from library_core import events as ev

MAX_FEN = 10**10  # 100 million yuan: far above any real fee, far below integer overflow
MAX_SEQ = 2**53


def _clean_text(value: str) -> str:
    """Every text field can end up on a receipt or a screen: no NUL, no control characters
    (C0 ``\x00``-``\x1f``, DEL, C1 ``\x80``-``\x9f``: an ESC or GS would reach the receipt
    printer as a command), valid Unicode only."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    for i, ch in enumerate(value):
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            raise ValueError(f"must not contain control characters (U+{code:04X} at {i})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def text(max_length: int, min_length: int = 1, pattern: str | None = None) -> Any:
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern),
        AfterValidator(_clean_text),
    ]


KioskId = text(8, pattern=r"^K\d{2,4}$")
StaffNo = text(8, pattern=r"^S\d{4,6}$")
CardNo = text(14, pattern=r"^2\d{13}$")
Barcode = text(14, pattern=r"^3\d{13}$")
EntityId = text(64, pattern=r"^[A-Za-z0-9_.:-]+$")
Pin = text(6, min_length=6, pattern=r"^\d{6}$")
Fen = Annotated[int, Field(ge=0, le=MAX_FEN, strict=True)]
Name = text(100)
PinHash = text(200, pattern=r"^scrypt\$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)


# ---- envelopes -------------------------------------------------------------------------------

EventKind = Literal[
    "reader.registered", "card.issued", "card.renewed", "card.blocked", "card.replaced",
    "card.cancelled", "fee.assessed", "fee.waived", "payment.recorded", "deposit.refunded",
    "loan.returned", "visit.opened", "visit.closed", "day.closed",
]
assert set(EventKind.__args__) == set(ev.ALL_KINDS)  # type: ignore[attr-defined]  # noqa: S101


class EventEnvelope(Strict):
    event_id: uuid.UUID
    kiosk_id: KioskId
    seq: Annotated[int, Field(ge=1, le=MAX_SEQ, strict=True)]
    kind: EventKind
    occurred_at: dt.datetime
    priority: Literal[0, 1] = 0
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a UTC offset")
        if not 2000 <= value.year <= 2200:
            raise ValueError("occurred_at is out of range")
        return value


class PushRequest(Strict):
    events: Annotated[list[EventEnvelope], Field(min_length=1, max_length=500)]


class EventResult(BaseModel):
    event_id: str
    status: Literal["applied", "duplicate", "conflict", "rejected"]
    detail: str | None = None
    rule: str | None = None


class PushResponse(BaseModel):
    results: list[EventResult]
    next_seq: int


class Change(BaseModel):
    seq: int
    entity: str
    id: str
    data: dict[str, Any]


class ChangesPage(BaseModel):
    changes: list[Change]
    next_cursor: int
    more: bool


class EnrollRequest(Strict):
    kiosk_id: KioskId
    code: text(64, min_length=8)


class TokenResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"


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
    title: text(300)
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


# ---- payloads by kind --------------------------------------------------------------------------

def _date(value: str) -> str:
    day = dt.date.fromisoformat(value)
    if not 2000 <= day.year <= 2200:
        raise ValueError("date out of range")
    return day.isoformat()


def _datetime(value: str) -> str:
    when = dt.datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError("needs a UTC offset")
    if not 2000 <= when.year <= 2200:
        raise ValueError("out of range")
    return when.isoformat()


IsoDate = Annotated[str, StringConstraints(max_length=10), AfterValidator(_date)]
IsoDateTime = Annotated[str, StringConstraints(max_length=40), AfterValidator(_datetime)]


class ReaderRegistered(Strict):
    reader_id: EntityId
    name: Name
    id_number: text(18, min_length=18, pattern=r"^\d{17}[\dX]$")
    phone: text(11, min_length=11, pattern=r"^1[3-9]\d{9}$")
    category: Literal["adult", "student", "child", "senior"]
    pin_hash: PinHash
    registered_at: IsoDateTime


class CardIssued(Strict):
    card_no: CardNo
    reader_id: EntityId
    uid: text(40, pattern=r"^[0-9A-Fa-f]+$")
    generation: Annotated[int, Field(ge=0, lt=1 << 16, strict=True)]
    expires_on: IsoDate


class CardRenewed(Strict):
    card_no: CardNo
    reader_id: EntityId
    previous_expires_on: IsoDate
    expires_on: IsoDate
    months: Annotated[int, Field(ge=1, le=120, strict=True)]


class CardBlocked(Strict):
    card_no: CardNo
    reader_id: EntityId
    reason: Literal["lost", "cancelled"]
    staff_no: StaffNo | None = None


class CardReplaced(Strict):
    old_card_no: CardNo
    card_no: CardNo
    reader_id: EntityId
    uid: text(40, pattern=r"^[0-9A-Fa-f]+$")
    generation: Annotated[int, Field(ge=0, lt=1 << 16, strict=True)]
    expires_on: IsoDate


class CardCancelled(Strict):
    card_no: CardNo
    reader_id: EntityId
    staff_no: StaffNo
    deposit_refunded: Fen


class FeeAssessed(Strict):
    fee_id: EntityId
    reader_id: EntityId
    kind: Literal["deposit", "card", "replacement", "renewal", "overdue", "lost_item"]
    amount: Fen
    description: text(300, min_length=0)
    loan_id: EntityId | None = None
    item_barcode: Barcode | None = None


class FeeWaived(Strict):
    fee_id: EntityId
    reader_id: EntityId
    staff_no: StaffNo
    reason: text(200, min_length=0)


class Allocation(Strict):
    fee_id: EntityId
    amount: Fen


class PaymentRecorded(Strict):
    payment_id: EntityId
    reader_id: EntityId | None = None
    receipt_no: text(32, pattern=r"^K\d{2,4}-\d{8}-\d{4}$")
    method: Literal["wechat", "alipay", "cash", "credit"]
    amount: Fen
    allocations: Annotated[list[Allocation], Field(max_length=200)]
    staff_no: StaffNo | None = None


class DepositRefunded(Strict):
    payment_id: EntityId
    reader_id: EntityId
    receipt_no: text(32, pattern=r"^K\d{2,4}-\d{8}-\d{4}$")
    amount: Fen
    staff_no: StaffNo


class LoanReturned(Strict):
    loan_id: EntityId
    item_barcode: Barcode
    reader_id: EntityId
    returned_at: IsoDateTime
    fine_fee_id: EntityId | None = None
    hold: bool = False


class VisitOpened(Strict):
    visit_id: EntityId
    name: Name
    phone: text(20)
    id_number: text(18, min_length=0) | None = None
    purpose: text(200)
    host_department: text(100)
    expires_at: IsoDateTime


class VisitClosed(Strict):
    visit_id: EntityId
    closed_at: IsoDateTime
    how: Literal["scanned", "auto", "staff"]


class DayClosed(Strict):
    report: dict[str, Any]
    staff_no: StaffNo


PAYLOADS: dict[str, type[Strict]] = {
    ev.READER_REGISTERED: ReaderRegistered,
    ev.CARD_ISSUED: CardIssued,
    ev.CARD_RENEWED: CardRenewed,
    ev.CARD_BLOCKED: CardBlocked,
    ev.CARD_REPLACED: CardReplaced,
    ev.CARD_CANCELLED: CardCancelled,
    ev.FEE_ASSESSED: FeeAssessed,
    ev.FEE_WAIVED: FeeWaived,
    ev.PAYMENT_RECORDED: PaymentRecorded,
    ev.DEPOSIT_REFUNDED: DepositRefunded,
    ev.LOAN_RETURNED: LoanReturned,
    ev.VISIT_OPENED: VisitOpened,
    ev.VISIT_CLOSED: VisitClosed,
    ev.DAY_CLOSED: DayClosed,
}

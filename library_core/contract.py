# mypy: disable-error-code="valid-type"
"""The sync contract as types: one pydantic model per event kind and per pulled entity.

The kiosk validates every event when it is written to its outbox (``validate_event``); the
record server validates pushes with the same models (``record_server.schemas`` imports them from
here); the kiosk validates every pulled row with the entity models before it stores it
(``validate_entity``). ``CONTRACT_VERSION`` travels in every event envelope (push) and every
change page (pull); each side accepts the version it ships.

Where the kiosk and the server used to disagree, this module decides once:

- card ``generation`` is at least 1 (the first card a reader gets is generation 1);
- a fee ``description`` holds at most ``FEE_DESCRIPTION_MAX`` characters (``fee_description``
  clips a longer one, so a long title never makes a fine unsendable);
- a staff card number is unique among staff (the kiosk's store keeps a unique index; a pulled
  staff row that would break it is set aside, see ``server_client.store.replica``).

Every text field can end up on a receipt or a screen, so every text is refused with NUL or
control characters. Pulled entities check types, enums, numeric ranges and text lengths; the
identifier formats are checked where they are made (the events).

Raises nothing at import; ``validate_event`` raises ``ContractError``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from library_core import events as ev

CONTRACT_VERSION: Final = 1
"""Bump when an event or entity model changes in a way the other side must know about."""

MAX_FEN: Final = 10**10  # 100 million yuan: far above any real fee, far below integer overflow
MAX_SEQ: Final = 2**53
FEE_DESCRIPTION_MAX: Final = 300
TITLE_MAX: Final = 300


class ContractError(ValueError):
    """An event or pulled row that does not match the contract; ``reason`` says which field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean_text(value: str) -> str:
    """No NUL, no control characters (C0 ``\x00``-``\x1f``, DEL, C1 ``\x80``-``\x9f``: an ESC
    or GS would reach the receipt printer as a command), valid Unicode only."""
    found = _CONTROL.search(value)
    if found is not None:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        code = ord(found.group())
        raise ValueError(f"must not contain control characters (U+{code:04X} at {found.start()})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def text(max_length: int, min_length: int = 1, pattern: str | None = None) -> Any:
    """A clean text type (see ``_clean_text``) with length limits and an optional pattern."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern),
        AfterValidator(_clean_text),
    ]


def fee_description(text_part: str, suffix: str = "") -> str:
    """A fee description that fits the contract: each control character of ``text_part`` a
    space (as the receipt printer shows it), ``text_part`` clipped with an ellipsis so that it
    and ``suffix`` fit in ``FEE_DESCRIPTION_MAX`` (a 300-character title plus its dates would
    not)."""
    value = "".join(" " if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 else ch for ch in text_part)
    room = max(1, FEE_DESCRIPTION_MAX - len(suffix))
    if len(value) > room:
        value = value[:room - 1] + "…"
    return (value + suffix)[:FEE_DESCRIPTION_MAX]


KioskId = text(8, pattern=r"^K\d{2,4}$")
StaffNo = text(8, pattern=r"^S\d{4,6}$")
CardNo = text(14, pattern=r"^2\d{13}$")
Barcode = text(14, pattern=r"^3\d{13}$")
EntityId = text(64, pattern=r"^[A-Za-z0-9_.:-]+$")
Pin = text(6, min_length=6, pattern=r"^\d{6}$")
Fen = Annotated[int, Field(ge=0, le=MAX_FEN, strict=True)]
Generation = Annotated[int, Field(ge=1, lt=1 << 16, strict=True)]
Name = text(100)
PinHash = text(200, pattern=r"^scrypt\$")
Uid = text(40, pattern=r"^[0-9A-Fa-f]+$")
ReceiptNo = text(32, pattern=r"^K\d{2,4}-\d{8}-\d{4}$")
FeeKind = Literal["deposit", "card", "replacement", "renewal", "overdue", "lost_item"]
Description = text(FEE_DESCRIPTION_MAX, min_length=0)


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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4000)


# ---- the event envelope ----------------------------------------------------------------------

EventKind = Literal[
    "reader.registered", "card.issued", "card.renewed", "card.blocked", "card.replaced",
    "card.cancelled", "fee.assessed", "fee.waived", "payment.recorded", "deposit.refunded",
    "loan.returned", "visit.opened", "visit.closed", "day.closed",
]


def _envelope_payload_schema(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` for an envelope: its payload is one of the per-kind payloads."""
    props = schema.get("properties", {})
    if "payload" in props:
        props["payload"] = {
            "title": "Payload",
            "description": "The payload of `kind`: the schema whose x-event-kind is the kind.",
            "type": "object",
            "anyOf": list(payload_json_schemas().values()),
        }


class EventEnvelope(Strict):
    """One outbox event as pushed. The payload is checked per event (``PAYLOADS[kind]``), so the
    server answers one bad event ``rejected`` and goes on with the batch."""

    model_config = ConfigDict(extra="forbid", str_max_length=4000,
                              json_schema_extra=_envelope_payload_schema)

    event_id: uuid.UUID
    kiosk_id: KioskId
    seq: Annotated[int, Field(ge=1, le=MAX_SEQ, strict=True)]
    kind: EventKind
    occurred_at: dt.datetime
    priority: Literal[0, 1] = 0
    contract_version: Literal[1] = CONTRACT_VERSION
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a UTC offset")
        if not 2000 <= value.year <= 2200:
            raise ValueError("occurred_at is out of range")
        return value


# ---- payloads by kind ------------------------------------------------------------------------

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
    uid: Uid
    generation: Generation
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
    uid: Uid
    generation: Generation
    expires_on: IsoDate


class CardCancelled(Strict):
    card_no: CardNo
    reader_id: EntityId
    staff_no: StaffNo
    deposit_refunded: Fen


class FeeAssessed(Strict):
    fee_id: EntityId
    reader_id: EntityId
    kind: FeeKind
    amount: Fen
    description: Description
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
    receipt_no: ReceiptNo
    method: Literal["wechat", "alipay", "cash", "credit"]
    amount: Fen
    allocations: Annotated[list[Allocation], Field(max_length=200)]
    staff_no: StaffNo | None = None


class DepositRefunded(Strict):
    payment_id: EntityId
    reader_id: EntityId
    receipt_no: ReceiptNo
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


PAYLOADS: Final[dict[str, type[Strict]]] = {
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
if set(EventKind.__args__) != set(ev.ALL_KINDS) or set(PAYLOADS) != set(ev.ALL_KINDS):  # type: ignore[attr-defined]
    raise RuntimeError("library_core.contract: event kinds and payload models disagree")


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined, to embed inside another document."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def payload_json_schemas() -> dict[str, dict[str, Any]]:
    """Each event kind's payload schema (self-contained), for the OpenAPI description."""
    return {kind: _inline_refs(model.model_json_schema()) | {"x-event-kind": kind}
            for kind, model in sorted(PAYLOADS.items())}


def _first_error(err: ValidationError, where: str) -> str:
    errors = err.errors()
    if not errors:
        return f"{where}: invalid"
    loc = ".".join(str(x) for x in errors[0]["loc"])
    path = f"{where}.{loc}" if loc else where
    return f"{path}: {errors[0]['msg']}"[:300]


def validate_event(envelope: Mapping[str, Any]) -> EventEnvelope:
    """Check a whole event (envelope, contract version, payload of its kind).

    Raises ContractError naming the first field that failed.
    """
    try:
        env = EventEnvelope.model_validate(dict(envelope))
    except ValidationError as err:
        raise ContractError(_first_error(err, "event")) from err
    try:
        PAYLOADS[env.kind].model_validate(env.payload)
    except ValidationError as err:
        raise ContractError(_first_error(err, "payload")) from err
    return env


# ---- pulled entities (server -> kiosk) ---------------------------------------------------------

def _row_text(max_length: int, min_length: int = 1) -> Any:
    """Clean text for pulled rows: the same refusal of control characters as ``text``, checked
    by the validator's own pattern (a pulled replica is hundreds of thousands of rows)."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,
                                            pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]


RowId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                         pattern=r"^[A-Za-z0-9_.:-]+$")]
RowUid = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[0-9A-Fa-f]+$")]
RowName = _row_text(100)
RowDescription = _row_text(FEE_DESCRIPTION_MAX, min_length=0)


class Entity(BaseModel):
    """A pulled snapshot. Unknown keys are ignored (a newer server may send more columns)."""

    model_config = ConfigDict(extra="ignore", str_max_length=4000)


Stamp = _row_text(40)  # a time or date as the server keeps it


class ReaderEntity(Entity):
    reader_id: RowId
    name: RowName
    id_number: _row_text(18)
    phone: _row_text(20)
    category: Literal["adult", "student", "child", "senior"]
    pin_hash: _row_text(200)
    status: Literal["active", "cancelled"]
    credit: Fen
    registered_at: Stamp


class CardEntity(Entity):
    card_no: _row_text(14)
    reader_id: RowId
    uid: RowUid
    generation: Generation
    status: Literal["active", "lost", "replaced", "cancelled"]
    issued_at: Stamp
    expires_on: Stamp


class ItemEntity(Entity):
    barcode: _row_text(14)
    title: _row_text(TITLE_MAX)
    author: _row_text(200, min_length=0)
    call_no: _row_text(64, min_length=0)
    status: Literal["available", "on_loan", "lost"]
    hold: bool


class LoanEntity(Entity):
    loan_id: RowId
    item_barcode: _row_text(14)
    reader_id: RowId
    borrowed_at: Stamp
    due_on: Stamp
    returned_at: Stamp | None = None


class FeeEntity(Entity):
    fee_id: RowId
    reader_id: RowId
    kind: FeeKind
    amount: Fen
    paid: Fen
    status: Literal["open", "paid", "waived"]
    description: RowDescription
    created_at: Stamp
    loan_id: RowId | None = None
    item_barcode: _row_text(14) | None = None

    @model_validator(mode="after")
    def _paid_within_amount(self) -> FeeEntity:
        if self.paid > self.amount:
            raise ValueError("paid is more than the amount")
        return self


class StaffEntity(Entity):
    staff_no: _row_text(8)
    name: RowName
    role: Literal["desk", "supervisor"]
    pin_hash: _row_text(200)
    card_no: _row_text(14) | None = None
    active: bool


class FeeScheduleEntity(Entity):
    """The published fee schedule: any JSON object here; the kiosk validates it when it prices
    (``library_core.fees.fee_schedule_from_dict``) and keeps its seed when it does not."""

    model_config = ConfigDict(extra="allow")


ENTITIES: Final[dict[str, type[Entity]]] = {
    "reader": ReaderEntity,
    "card": CardEntity,
    "item": ItemEntity,
    "loan": LoanEntity,
    "fee": FeeEntity,
    "staff": StaffEntity,
    "fee_schedule": FeeScheduleEntity,
}
if tuple(ENTITIES) != ev.PULL_ENTITIES:
    raise RuntimeError("library_core.contract: pulled entities and their models disagree")

ENTITY_KEYS: Final[dict[str, str]] = {
    "reader": "reader_id", "card": "card_no", "item": "barcode", "loan": "loan_id",
    "fee": "fee_id", "staff": "staff_no",
}
"""The key field of each pulled table entity (the fee schedule is one document, ``current``)."""


def entity_columns(entity: str) -> tuple[str, ...]:
    """The fields of a pulled table entity, key first: the columns the server snapshots and
    the kiosk's replica stores (written once, here)."""
    fields = tuple(ENTITIES[entity].model_fields)
    key = ENTITY_KEYS[entity]
    return (key, *(f for f in fields if f != key))


class Change(BaseModel):
    seq: int
    entity: str
    id: str
    data: dict[str, Any]


class ChangesPage(BaseModel):
    changes: list[Change]
    next_cursor: int
    more: bool
    contract_version: int = CONTRACT_VERSION


def validate_entity(entity: str, data: Any) -> dict[str, Any]:
    """A pulled row's data checked against its entity model; returns the data as given.

    Raises ContractError (unknown entity, or the first field that failed).
    """
    model = ENTITIES.get(entity)
    if model is None:
        raise ContractError(f"unknown entity {entity!r}")
    if not isinstance(data, dict):
        raise ContractError(f"{entity}: data is not an object")
    try:
        model.model_validate(data)
    except ValidationError as err:
        raise ContractError(_first_error(err, entity)) from err
    return data


class QuarantinedRow(Strict):
    """A pulled row the kiosk set aside, as reported to the server on the next push."""

    seq: Annotated[int, Field(ge=0, le=MAX_SEQ, strict=True)]
    entity: text(16)
    entity_id: text(64)
    reason: text(300)
    quarantined_at: IsoDateTime

# mypy: disable-error-code="valid-type"
"""The event envelope (push) and one model per event kind."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from library_core import events as ev
from library_core.contract.ils import IlsFeePaid, IlsRefused
from library_core.contract.proof import StaffProof
from library_core.contract.receipt_doc import ReceiptIssued
from library_core.contract.types import (
    CONTRACT_VERSION,
    MAX_SEQ,
    Barcode,
    CardNo,
    ContractError,
    Description,
    EntityId,
    FeeKind,
    Fen,
    Generation,
    IsoDate,
    IsoDateTime,
    KioskId,
    Name,
    PinHash,
    ReaderGrant,
    ReceiptNo,
    StaffNo,
    Strict,
    Uid,
    first_error,
    text,
)
from library_core.contract.unapplied import PaymentRefunded, PaymentUnapplied

ProviderRef = text(64, pattern=r"^[0-9A-Za-z_-]+$")

# ---- the event envelope ----------------------------------------------------------------------

EventKind = Literal[
    "reader.registered", "card.issued", "card.renewed", "card.blocked", "card.replaced",
    "card.cancelled", "fee.assessed", "fee.waived", "payment.recorded", "deposit.refunded",
    "loan.returned", "visit.opened", "visit.closed", "day.closed", "receipt.issued",
    "ils.refused", "payment.unapplied", "payment.refunded", "ils.fee_paid",
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
    contract_version: Literal[1, 2] = CONTRACT_VERSION  # 2: staff_proof; 1 still accepted
    payload: dict[str, Any]
    staff_proof: StaffProof | None = None  # staff events (proof.py; docs/security.md 5.2)

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
    # a reader under 14: their guardian's mobile number (PIPL consent; library_core.ages)
    guardian_phone: text(11, min_length=11, pattern=r"^1[3-9]\d{9}$") | None = None


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
    # lost with no staff: the grant the server's reader-PIN check gave this kiosk for this reader
    reader_grant: ReaderGrant | None = None


class CardReplaced(Strict):
    old_card_no: CardNo
    card_no: CardNo
    reader_id: EntityId
    uid: Uid
    generation: Generation
    expires_on: IsoDate
    reader_grant: ReaderGrant | None = None  # refused without one (record_server/grants.py)


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
    # the provider's transaction id and the kiosk's out-trade-number (reconciliation against
    # the provider's bill); absent for cash and for kiosks before issue 13
    transaction_id: ProviderRef | None = None
    out_trade_no: ProviderRef | None = None


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
    ev.RECEIPT_ISSUED: ReceiptIssued,  # library_core.contract.receipt_doc
    ev.ILS_REFUSED: IlsRefused,  # library_core.contract.ils
    ev.PAYMENT_UNAPPLIED: PaymentUnapplied,  # library_core.contract.unapplied
    ev.PAYMENT_REFUNDED: PaymentRefunded,
    ev.ILS_FEE_PAID: IlsFeePaid,  # library_core.contract.ils
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


def validate_event(envelope: Mapping[str, Any]) -> EventEnvelope:
    """Check a whole event (envelope, contract version, payload of its kind).

    Raises ContractError naming the first field that failed.
    """
    try:
        env = EventEnvelope.model_validate(dict(envelope))
    except ValidationError as err:
        raise ContractError(first_error(err, "event")) from err
    try:
        PAYLOADS[env.kind].model_validate(env.payload)
    except ValidationError as err:
        raise ContractError(first_error(err, "payload")) from err
    return env

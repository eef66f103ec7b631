# mypy: disable-error-code="valid-type"
"""The pulled entities (pull): one model per entity, the change page, quarantine reports."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from library_core import events as ev
from library_core.contract.types import (
    CONTRACT_VERSION,
    FEE_DESCRIPTION_MAX,
    MAX_SEQ,
    TITLE_MAX,
    ContractError,
    FeeKind,
    Fen,
    Generation,
    IsoDateTime,
    Strict,
    first_error,
    text,
)


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


IdHash = Annotated[str, StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
Masked = Annotated[str, StringConstraints(max_length=20, pattern=r"^[0-9A-Za-z*+ -]*$")]


class ReaderEntity(Entity):
    """A reader as a kiosk holds it (PIPL minimisation): the keyed hash of the ID number
    (``library_core.identity.id_number_hash``) for "same person" checks, the masked ID number
    and phone for display; no clear number, no phone, no PIN hash (PINs are checked by the
    server)."""

    reader_id: RowId
    name: RowName
    id_hash: IdHash
    id_masked: Masked
    phone_masked: Masked
    category: Literal["adult", "student", "child", "senior"]
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
        raise ContractError(first_error(err, entity)) from err
    return data


@functools.cache
def _rows_adapter(model: type[Entity]) -> TypeAdapter[list[Entity]]:
    return TypeAdapter(list[model])


def entity_refusals(entity: str, rows: Sequence[Any]) -> dict[int, str]:
    """The pulled rows' data of one entity checked against its model at once (a page of a
    replica is a thousand rows); returns the refused ones by position, each with the reason
    ``validate_entity`` gives for it (empty: all good)."""
    model = ENTITIES.get(entity)
    if model is not None and all(type(data) is dict for data in rows):
        try:
            _rows_adapter(model).validate_python(rows)
            return {}
        except ValidationError:
            pass  # some row is refused: find which, and why, one by one
    refused: dict[int, str] = {}
    for pos, data in enumerate(rows):
        try:
            validate_entity(entity, data)
        except ContractError as err:
            refused[pos] = err.reason
    return refused


class QuarantinedRow(Strict):
    """A pulled row the kiosk set aside, as reported to the server on the next push."""

    seq: Annotated[int, Field(ge=0, le=MAX_SEQ, strict=True)]
    entity: text(16)
    entity_id: text(64)
    reason: text(300)
    quarantined_at: IsoDateTime

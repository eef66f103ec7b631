# mypy: disable-error-code="valid-type"
"""The ``receipt.issued`` payload (issue 12.12): a reader receipt as printed, masked data only,
with the SHA-256 of its e-receipt token (``library_core.ereceipts``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from library_core.contract.types import (
    MAX_FEN,
    TITLE_MAX,
    Fen,
    IsoDateTime,
    KioskId,
    ReceiptNo,
    Strict,
)
from library_core.contract.types import text as ctext  # a line has a field named text

MessageId = ctext(64, min_length=0, pattern=r"^[a-z0-9_.]*$")
Shown = ctext(TITLE_MAX + 40, min_length=0)  # a title, a name, a date as printed
LangCode = ctext(8)
ParamName = ctext(32)
Localized = Annotated[dict[LangCode, Shown], Field(max_length=4)]
ParamValue = Annotated[int, Field(ge=-MAX_FEN, le=MAX_FEN, strict=True)] | Shown | Localized
Masked = ctext(24, min_length=0)


class ReceiptLineDoc(Strict):
    text: Shown = ""
    key: MessageId = ""
    amount: Annotated[int, Field(ge=-MAX_FEN, le=MAX_FEN, strict=True)] | None = None
    quantity: Annotated[int, Field(ge=0, le=100_000, strict=True)] | None = None
    detail: Shown = ""
    detail_key: MessageId = ""
    params: Annotated[dict[ParamName, ParamValue], Field(max_length=12)] = {}


class ReceiptDocument(Strict):
    kind: Literal["new_card", "renewal", "replacement", "payment", "returns", "refund"]
    kiosk_id: KioskId
    issued_at: IsoDateTime
    language: Literal["zh_CN", "en"]
    library_name: ctext(100, min_length=0) = ""
    library_name_en: ctext(100, min_length=0) = ""
    reader_name: ctext(100, min_length=0) = ""
    card_no_masked: Masked = ""
    id_masked: Masked = ""
    phone_masked: Masked = ""
    fields: Annotated[list[Annotated[list[MessageId | Shown | Localized],
                                     Field(min_length=2, max_length=2)]],
                      Field(max_length=20)] = []
    lines: Annotated[list[ReceiptLineDoc], Field(max_length=200)] = []
    total: Fen | None = None
    payment_method: ctext(16, min_length=0) = ""
    staff_no: ctext(8, min_length=0, pattern=r"^(S\d{4,6})?$") = ""
    footer_key: MessageId = ""

    @field_validator("card_no_masked", "id_masked", "phone_masked")
    @classmethod
    def _masked(cls, value: str) -> str:
        if value and "*" not in value:
            raise ValueError("must be masked")
        return value

    @field_validator("reader_name")
    @classmethod
    def _name_masked(cls, value: str) -> str:
        if len(value.strip()) > 1 and "*" not in value:
            raise ValueError("must be masked")
        return value


class ReceiptIssued(Strict):
    receipt_no: ReceiptNo
    token_sha256: ctext(64, min_length=64, pattern=r"^[0-9a-f]{64}$")
    document: ReceiptDocument

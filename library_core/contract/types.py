# mypy: disable-error-code="valid-type"
"""The contract's building blocks: its version, limits, clean text types and ``ContractError``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

CONTRACT_VERSION: Final = 2
"""Bump when an event or entity model changes in a way the other side must know about.
2: events carry ``staff_proof``; the staff entity has no PIN hash (issue 11.2, 11.3)."""

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
ReaderGrant = text(64, min_length=20, pattern=r"^rg_[A-Za-z0-9_-]+$")  # record_server/grants.py
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


def first_error(err: ValidationError, where: str) -> str:
    errors = err.errors()
    if not errors:
        return f"{where}: invalid"
    loc = ".".join(str(x) for x in errors[0]["loc"])
    path = f"{where}.{loc}" if loc else where
    return f"{path}: {errors[0]['msg']}"[:300]

"""What an import is made of: the rows it would write, the errors it found, and a file refused
as a whole. Reasons are message ids of the console catalog (``console.imports.err.<reason>``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

MAX_LISTED_ERRORS = 1000  # the dry run lists this many; the count is always complete


class ItemRow(NamedTuple):
    """An item to put in the catalogue (status ``available``)."""

    line: int  # the row (spreadsheet row, CSV line) or MARC record number it came from
    barcode: str
    title: str
    author: str
    call_no: str


class ReaderRow(NamedTuple):
    """A reader to add, with the card they already hold (``card_no``/``card_uid`` or none)."""

    line: int
    name: str
    id_number: str
    phone: str
    category: str
    card_no: str
    card_uid: str
    expires_on: str  # YYYY-MM-DD, or "" for the fee schedule's new-card validity


@dataclass(frozen=True)
class RowError:
    """One problem with one row: where, which column, why (reason id), the value as found."""

    line: int
    column: str
    reason: str
    value: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "reason": self.reason,
                "value": self.value[:80]}


class FileRefused(Exception):
    """The file cannot be read as an import at all (reason id, and what to show with it):
    ``not_table``, ``encoding``, ``row_too_large``, ``missing_columns``, ``not_marc``,
    ``empty``, ``too_big``, ``xml_doctype``, ``bad_field_spec``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Checked:
    """The outcome of a dry run: the rows that would be written and every error found."""

    items: list[ItemRow] = field(default_factory=list)
    readers: list[ReaderRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    encoding: str = ""

    @property
    def rows(self) -> int:
        return len(self.items) + len(self.readers)

    @property
    def ok(self) -> bool:
        return not self.errors

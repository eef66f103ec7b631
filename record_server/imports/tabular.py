"""CSV and XLSX files as rows of text cells (the readers' and items' imports).

Encoding: UTF-8 (with or without the BOM Excel writes) is read as it is. A CSV that is not
UTF-8 but decodes strictly as GB18030 (what Excel on a Chinese Windows saves as "CSV", GBK being
a subset) is read as GB18030, and the dry run says so next to the rows it shows, so the office
sees the names before anything is written; any other file is refused (``encoding``). Cells are
text: a cell that starts with ``=`` (a formula, in CSV or XLSX) is kept as the text it is and
never evaluated here (``openpyxl`` is opened with ``data_only=False`` and gives the formula's
text). A file holding NUL bytes is not a table (``not_table``); a CSV field over the ``csv``
module's limit stops the file (``row_too_large``); a cell over ``MAX_CELL`` characters is a row
error (``cell_too_long``) in ``checks``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from record_server.imports.rows import FileRefused

MAX_COLUMNS = 40
MAX_CELL = 1000
XLSX_MAGIC = b"PK\x03\x04"


@dataclass
class Table:
    """A file's header (as written) and its rows: ``(line, cells)``, line 2 the first data row."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: str  # utf-8 | gb18030 | xlsx


def decode_text(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with (``utf-8`` or ``gb18030``); raises
    FileRefused ``encoding``."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise FileRefused("encoding", "neither UTF-8 nor GB18030") from None


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            if any(cells):  # not a blank line ("", or only commas)
                yield reader.line_num, cells
    except csv.Error as err:
        if "field larger" in str(err):
            raise FileRefused("row_too_large", f"line {reader.line_num + 1}") from None
        raise FileRefused("not_table", str(err)) from None


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed as a number; an 18-digit ID number is not exact
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise FileRefused("not_table", f"not an XLSX workbook: {err}") from None
    sheet = book.worksheets[0] if book.worksheets else None
    if sheet is None:
        raise FileRefused("empty")
    values = sheet.iter_rows(values_only=True)
    header: list[str] | None = None
    line = 0
    for row in values:
        line += 1
        cells = [_cell_text(v) for v in row]
        if any(c.strip() for c in cells):
            header = cells
            break
    if header is None:
        raise FileRefused("empty")
    first = line

    def rows() -> Iterator[tuple[int, list[str]]]:
        n = first
        for row in values:
            n += 1
            cells = [_cell_text(v) for v in row]
            if any(c.strip() for c in cells):
                yield n, cells
        book.close()

    return Table(header, rows(), "xlsx")


def read_table(data: bytes) -> Table:
    """The file as a table (XLSX by its zip signature, else CSV). Raises FileRefused."""
    if not data.strip():
        raise FileRefused("empty")
    if data.startswith(XLSX_MAGIC):
        return _xlsx(data)
    if b"\x00" in data:
        raise FileRefused("not_table", "the file holds NUL bytes (binary, or UTF-16)")
    text, encoding = decode_text(data)
    rows = _csv_rows(text)
    try:
        _line, header = next(rows)
    except StopIteration:
        raise FileRefused("empty") from None
    return Table(header, rows, encoding)

"""Row checks of an import, before anything is written: every error of every row is listed
(``RowError``), the rows without one are kept. Uses the rules the kiosk uses: the item and card
number shapes (``library_core.codes``), the GB 11643 ID number (``library_core.identity``), the
mobile number, the reader categories and their age rule (``library_core.ages``). Duplicates
within the file are errors here; duplicates of what the database holds are ``store``'s.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator

from library_core.ages import claimed_category_refusal
from library_core.codes import is_card_no, is_item_barcode
from library_core.errors import ValidationError
from library_core.identity import birth_date_from_id, validate_mobile, validate_resident_id
from record_server.imports.rows import Checked, FileRefused, ItemRow, ReaderRow, RowError
from record_server.imports.tabular import MAX_CELL, MAX_COLUMNS, Table

TITLE_MAX = 300
AUTHOR_MAX = 200
CALL_NO_MAX = 64
NAME_MAX = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UID = re.compile(r"^[0-9A-Fa-f]{8}$|^[0-9A-Fa-f]{14}$|^[0-9A-Fa-f]{20}$")  # 4, 7, 10-byte UIDs
CATEGORIES = {"adult": "adult", "student": "student", "child": "child", "senior": "senior",
              "成人": "adult", "学生": "student", "儿童": "child", "老年": "senior",
              "老年人": "senior"}

# a column's name in the file (English or Chinese heading) -> its field
ITEM_COLUMNS = {"barcode": "barcode", "条码": "barcode", "条形码": "barcode",
                "title": "title", "题名": "title", "书名": "title",
                "author": "author", "作者": "author", "责任者": "author",
                "call_no": "call_no", "索书号": "call_no"}
ITEM_REQUIRED = ("barcode", "title")
READER_COLUMNS = {"name": "name", "姓名": "name", "id_number": "id_number", "身份证号": "id_number",
                  "身份证号码": "id_number", "phone": "phone", "手机": "phone",
                  "手机号": "phone", "category": "category", "类别": "category",
                  "读者类别": "category", "card_no": "card_no", "读者证号": "card_no",
                  "card_uid": "card_uid", "卡UID": "card_uid", "expires_on": "expires_on",
                  "有效期至": "expires_on"}
READER_REQUIRED = ("name", "id_number", "phone", "category")


def columns_of(header: list[str], known: dict[str, str], required: Iterable[str]) -> dict[str, int]:
    """Field -> cell index. Raises FileRefused ``missing_columns`` (naming them) or
    ``not_table`` (too many columns)."""
    if len(header) > MAX_COLUMNS:
        raise FileRefused("not_table", f"{len(header)} columns")
    found: dict[str, int] = {}
    for i, heading in enumerate(header):
        name = known.get(heading.strip().lstrip("\ufeff")) or known.get(heading.strip().lower())
        if name is not None and name not in found:
            found[name] = i
    missing = [c for c in required if c not in found]
    if missing:
        raise FileRefused("missing_columns", ", ".join(missing))
    return found


def _cells(line: int, cells: list[str], cols: dict[str, int],
           errors: list[RowError]) -> dict[str, str] | None:
    if len(cells) > MAX_COLUMNS:
        errors.append(RowError(line, "", "too_many_cells", str(len(cells))))
        return None
    out = {name: (cells[i].strip() if i < len(cells) else "") for name, i in cols.items()}
    long = [n for n, v in out.items() if len(v) > MAX_CELL]
    if long:
        errors.append(RowError(line, long[0], "cell_too_long", out[long[0]][:40]))
        return None
    return out


def _text(line: int, row: dict[str, str], column: str, limit: int, errors: list[RowError], *,
          required: bool = False) -> bool:
    value = row.get(column, "")
    if required and not value:
        errors.append(RowError(line, column, "required"))
    elif len(value) > limit:
        errors.append(RowError(line, column, "too_long", value[:40]))
    elif _CONTROL.search(value):
        errors.append(RowError(line, column, "control_chars", value[:40]))
    else:
        return True
    return False


def item_errors(item: ItemRow, errors: list[RowError], seen: dict[str, int]) -> bool:
    """Check one item (shape, text, a barcode seen earlier in the file); True when good."""
    n = len(errors)
    if not is_item_barcode(item.barcode):
        errors.append(RowError(item.line, "barcode", "barcode_invalid", item.barcode))
    elif item.barcode in seen:
        errors.append(RowError(item.line, "barcode", "barcode_duplicate_in_file",
                               f"{item.barcode} ({seen[item.barcode]})"))
    else:
        seen[item.barcode] = item.line
    if (item.title and len(item.title) <= TITLE_MAX and len(item.author) <= AUTHOR_MAX
            and len(item.call_no) <= CALL_NO_MAX
            and not _CONTROL.search(item.title + item.author + item.call_no)):
        return len(errors) == n  # the common case, in one test (a million rows)
    row = {"title": item.title, "author": item.author, "call_no": item.call_no}
    _text(item.line, row, "title", TITLE_MAX, errors, required=True)
    _text(item.line, row, "author", AUTHOR_MAX, errors)
    _text(item.line, row, "call_no", CALL_NO_MAX, errors)
    return len(errors) == n


def iter_items(table: Table, *, batch: int = 10_000) -> Iterator[Checked]:
    """The items of a CSV/XLSX table (barcode, title, author, call_no), checked ``batch``
    rows at a time (a commit writes one batch while the next is read). Raises FileRefused."""
    cols = columns_of(table.header, ITEM_COLUMNS, ITEM_REQUIRED)
    seen: dict[str, int] = {}
    at = [cols.get(name, -1) for name in ("barcode", "title", "author", "call_no")]
    width = max(at) + 1
    out = Checked(encoding=table.encoding)
    for line, cells in table.rows:
        if not width <= len(cells) <= MAX_COLUMNS or max(map(len, cells)) > MAX_CELL:
            row = _cells(line, cells, cols, out.errors)  # the slow path names the problem
            if row is None:
                continue
            values = [row.get(name, "") for name in ("barcode", "title", "author", "call_no")]
        else:
            values = [cells[i].strip() if i >= 0 else "" for i in at]
        item = ItemRow(line, *values)
        if item_errors(item, out.errors, seen):
            out.items.append(item)
        if len(out.items) + len(out.errors) >= batch:
            yield out
            out = Checked(encoding=table.encoding)
    yield out


def check_items(table: Table) -> Checked:
    """Every item of a CSV/XLSX table, checked (``iter_items``). Raises FileRefused."""
    out = Checked(encoding=table.encoding)
    for part in iter_items(table):
        out.items.extend(part.items)
        out.errors.extend(part.errors)
    return out


def _reader(line: int, row: dict[str, str], today: dt.date, errors: list[RowError],
            seen_ids: dict[str, int], seen_cards: dict[str, int]) -> ReaderRow | None:
    n = len(errors)
    _text(line, row, "name", NAME_MAX, errors, required=True)
    id_number = row["id_number"]
    try:
        id_number = validate_resident_id(id_number, today=today)
    except ValidationError as err:
        errors.append(RowError(line, "id_number", err.message_id.replace(".", "_"), id_number))
    else:
        if id_number in seen_ids:
            errors.append(RowError(line, "id_number", "id_number_duplicate_in_file",
                                   f"({seen_ids[id_number]})"))
        seen_ids.setdefault(id_number, line)
    phone = row["phone"]
    try:
        phone = validate_mobile(phone)
    except ValidationError:
        errors.append(RowError(line, "phone", "phone_invalid", phone))
    category = CATEGORIES.get(row["category"].strip().lower())
    birth = birth_date_from_id(id_number) if len(errors) == n else None
    if category is None:
        errors.append(RowError(line, "category", "category_unknown", row["category"]))
    elif birth is not None and claimed_category_refusal(category, birth, today) is not None:
        errors.append(RowError(line, "category", "category_age", row["category"]))
    card_no, uid = row.get("card_no", ""), row.get("card_uid", "").upper()
    if card_no or uid:
        if not is_card_no(card_no):
            errors.append(RowError(line, "card_no", "card_no_invalid", card_no))
        elif card_no in seen_cards:
            errors.append(RowError(line, "card_no", "card_no_duplicate_in_file",
                                   f"{card_no} ({seen_cards[card_no]})"))
        else:
            seen_cards[card_no] = line
        if not _UID.match(uid):
            errors.append(RowError(line, "card_uid", "card_uid_invalid", uid))
    expires = row.get("expires_on", "")
    if expires:
        try:
            if dt.date.fromisoformat(expires) <= today:
                errors.append(RowError(line, "expires_on", "expires_past", expires))
        except ValueError:
            errors.append(RowError(line, "expires_on", "date_invalid", expires))
    if len(errors) != n:
        return None
    return ReaderRow(line, row["name"], id_number, phone, category or "", card_no, uid, expires)


def check_readers(table: Table, *, today: dt.date) -> Checked:
    """A CSV/XLSX table of readers (name, id_number, phone, category; card_no, card_uid and
    expires_on optional). ``today`` is the library's date (the injected clock). Raises
    FileRefused."""
    cols = columns_of(table.header, READER_COLUMNS, READER_REQUIRED)
    out = Checked(encoding=table.encoding)
    seen_ids: dict[str, int] = {}
    seen_cards: dict[str, int] = {}
    for line, cells in table.rows:
        row = _cells(line, cells, cols, out.errors)
        if row is None:
            continue
        reader = _reader(line, row, today, out.errors, seen_ids, seen_cards)
        if reader is not None:
            out.readers.append(reader)
    return out

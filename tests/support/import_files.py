"""Import files as a library's old system would hand them over, built in the test: reader and
item tables as CSV (UTF-8 or GBK) and XLSX (openpyxl), MARC records as ISO 2709 and MARCXML
(pymarc), MARC 21 or CNMARC, with Chinese titles."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import pymarc
from openpyxl import Workbook

READER_HEADER = ("name", "id_number", "phone", "category", "card_no", "card_uid")
ITEM_HEADER = ("barcode", "title", "author", "call_no")


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[str]], *,
              encoding: str = "utf-8") -> bytes:
    buf = io.StringIO(newline="")
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(header)
    out.writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _field(tag: str, **subfields: str) -> pymarc.Field:
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", " "),
                        subfields=[pymarc.Subfield(code, value) for code, value in subfields.items()])


def marc21_record(title: str, author: str, barcodes: Sequence[str], call_no: str = "") -> pymarc.Record:
    """A MARC 21 record (UTF-8, leader 09 ``a``): 245$a title, 100$a author, one 952 per copy."""
    record = pymarc.Record(force_utf8=True)
    record.leader = record.leader[:9] + "a" + record.leader[10:]
    record.add_field(_field("100", a=author))
    record.add_field(_field("245", a=f"{title} /", c=author))
    for barcode in barcodes:
        record.add_field(_field("952", p=barcode, o=call_no))
    return record


def cnmarc_record(title: str, author: str, barcodes: Sequence[str], call_no: str = "") -> pymarc.Record:
    """A CNMARC record: 200$a title, 200$f and 700$a author, one 995 ($f barcode) per copy."""
    record = pymarc.Record(force_utf8=True)
    record.leader = record.leader[:9] + "a" + record.leader[10:]
    record.add_field(_field("200", a=title, f=author))
    record.add_field(_field("700", a=author))
    for barcode in barcodes:
        record.add_field(_field("995", f=barcode, k=call_no))
    return record


def iso2709(records: Sequence[pymarc.Record]) -> bytes:
    return b"".join(r.as_marc() for r in records)


def marcxml(records: Sequence[pymarc.Record]) -> bytes:
    buf = io.BytesIO()
    writer = pymarc.XMLWriter(buf)
    for record in records:
        writer.write(record)
    writer.close(close_fh=False)
    return buf.getvalue()

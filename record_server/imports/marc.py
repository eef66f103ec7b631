"""The catalogue from MARC records (pymarc): ISO 2709 (``.mrc``) or MARCXML, MARC 21 or CNMARC.

Conventions chosen (each record gives one item per barcode it holds, all with its title):

- MARC 21: title 245$a (then $b, ISBD punctuation " /:;=" trimmed), author 100$a, else 245$c.
  Items: Koha's MARC 21 holdings field 952, barcode $p, call number $o.
- CNMARC (the Chinese UNIMARC; field numbers of UNIMARC): title 200$a (then $e), author 700$a,
  else 200$f. Items: Koha's UNIMARC holdings field 995, barcode $f, call number $k.
- ``auto``: a record with a 200 field and no 245 is CNMARC, otherwise MARC 21.
- The barcode's field and subfield are configurable (``--barcode-field 952$p``, the console's
  form) for a library whose system puts it elsewhere (e.g. 852$p); the call number field too.
- Encoding: MARCXML is Unicode (its XML declaration); a DOCTYPE is refused (no entities). ISO
  2709: leader 09 ``a`` means UTF-8 (pymarc); otherwise MARC 21 is MARC-8 (pymarc converts it)
  and CNMARC is GB18030 (GB 2312 / GBK, as Chinese systems write it).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from record_server.imports.checks import item_errors
from record_server.imports.rows import Checked, FileRefused, ItemRow, RowError

FLAVOURS = ("auto", "marc21", "cnmarc")
HOLDINGS = {"marc21": ("952", "p", "o"), "cnmarc": ("995", "f", "k")}
_FIELD_SPEC = re.compile(r"^([0-9]{3})\$([0-9a-z])$")
_ISBD_END = " /:;=,."


@dataclass(frozen=True)
class MarcProfile:
    """Which flavour, and where the barcode and call number are (``None``: the flavour's)."""

    flavour: str = "auto"
    barcode_field: str | None = None  # "952$p"
    call_no_field: str | None = None  # "952$o"

    def holdings(self, flavour: str) -> tuple[tuple[str, str], tuple[str, str]]:
        tag, bc, cn = HOLDINGS[flavour]
        return (field_spec(self.barcode_field) if self.barcode_field else (tag, bc),
                field_spec(self.call_no_field) if self.call_no_field else (tag, cn))


def field_spec(text: str) -> tuple[str, str]:
    """``952$p`` -> ("952", "p"). Raises FileRefused ``bad_field_spec``."""
    match = _FIELD_SPEC.match(text.strip())
    if match is None or match.group(1) < "010":
        raise FileRefused("bad_field_spec", text[:20])
    return match.group(1), match.group(2)


def _first(record: Any, tag: str, code: str) -> str:
    for field in record.get_fields(tag):
        values = field.get_subfields(code)
        if values:
            return str(values[0]).strip()
    return ""


def _clean(text: str) -> str:
    return " ".join(text.split()).rstrip(_ISBD_END).strip()


def _flavour(record: Any, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    return "cnmarc" if record.get_fields("200") and not record.get_fields("245") else "marc21"


def describe(record: Any, flavour: str) -> tuple[str, str]:
    """(title, author) of a record in its flavour's fields."""
    if flavour == "cnmarc":
        title = " ".join(x for x in (_clean(_first(record, "200", "a")),
                                     _clean(_first(record, "200", "e"))) if x)
        author = _first(record, "700", "a") + _first(record, "700", "b") or _first(
            record, "200", "f")
    else:
        title = " ".join(x for x in (_clean(_first(record, "245", "a")),
                                     _clean(_first(record, "245", "b"))) if x)
        author = _first(record, "100", "a") or _first(record, "245", "c")
    return title, _clean(author)


def _records(data: bytes, flavour: str) -> Iterator[tuple[Any, str]]:
    """(record or None, why it is None) for each record of the file."""
    import pymarc

    head = data.lstrip()[:200]
    if head.startswith(b"<"):
        if b"<!DOCTYPE" in data[:4096].upper():
            raise FileRefused("xml_doctype")
        try:
            records = pymarc.parse_xml_to_array(io.BytesIO(data))  # type: ignore[no-untyped-call]
        except Exception as err:  # sax raises its own SAXParseException, and others
            raise FileRefused("not_marc", f"MARCXML: {err}") from None
        if not records:
            raise FileRefused("not_marc", "no MARCXML record")
        for record in records:
            yield record, ""
        return
    if not head[:5].isdigit():
        raise FileRefused("not_marc", "neither ISO 2709 nor MARCXML")
    reader = pymarc.MARCReader(data, to_unicode=True, utf8_handling="strict",
                               file_encoding="gb18030" if flavour == "cnmarc" else "iso8859-1")
    for record in reader:
        if record is None:
            problem = reader.current_exception
            fatal = isinstance(problem, pymarc.exceptions.FatalReaderError)
            # after a fatal error pymarc cannot find the next record: the file ends here, and
            # the error (which blocks the commit) says so
            yield None, type(problem).__name__ + (": the rest of the file is unreadable" if fatal
                                              else "")
        else:
            yield record, ""


def check_marc(data: bytes, profile: MarcProfile,
               progress: Callable[[int], None] = lambda n: None) -> Checked:
    """Item rows from every record's holdings; a record without a title, without a barcode or
    that cannot be read is an error of that record (its number, from 1). ``progress`` hears
    the records read every 5,000."""
    if profile.flavour not in FLAVOURS:
        raise FileRefused("bad_field_spec", profile.flavour)
    out = Checked(encoding="marc")
    seen: dict[str, int] = {}
    number = 0
    for number, (record, why) in enumerate(_records(data, profile.flavour), start=1):
        if number % 5000 == 0:
            progress(number)
        if record is None:
            out.errors.append(RowError(number, "", "marc_record_unreadable", why))
            continue
        flavour = _flavour(record, profile.flavour)
        title, author = describe(record, flavour)
        (b_tag, b_code), (c_tag, c_code) = profile.holdings(flavour)
        barcodes = [(str(v).strip(), field) for field in record.get_fields(b_tag)
                    for v in field.get_subfields(b_code)]
        if not barcodes:
            out.errors.append(RowError(number, f"{b_tag}${b_code}", "marc_no_barcode", title))
            continue
        for barcode, field in barcodes:
            call_nos = field.get_subfields(c_code) if c_tag == b_tag else []
            call_no = str(call_nos[0]).strip() if call_nos else _first(record, c_tag, c_code)
            item = ItemRow(number, barcode, title, author[:200], call_no)
            if item_errors(item, out.errors, seen):
                out.items.append(item)
    if number == 0:
        raise FileRefused("not_marc", "no record")
    return out

"""New readers in forms a library's ILS imports (issue 15.2: SIP2 cannot create patrons, so
readers registered at our kiosks are exported for the ILS).

Formats (``FORMATS``):

- ``koha-csv``: Koha's patron import (Tools > Import patrons, ``tools/import_borrowers.pl``):
  a header row of ``borrowers`` column names. We fill ``cardnumber, surname, firstname,
  categorycode, branchcode, dateenrolled, dateexpiry, phone, userid``. A Chinese name is not
  split (which characters are the surname is not knowable in general): the whole name goes in
  ``surname``, ``firstname`` stays empty. ``categorycode`` is our category upper-cased (ADULT,
  STUDENT, CHILD, SENIOR): create those categories in Koha or map them on import.
- ``generic-csv``: one row per reader, columns ``GENERIC_COLUMNS`` (documented in
  docs/ils-export.md), UTF-8 with a BOM, for loaders that map columns themselves (Evergreen's
  patron loading scripts, Interlib's and other Chinese ILSs' reader imports, a spreadsheet).
- ``folio-json``: FOLIO's user import (``POST /user-import``, mod-user-import): ``{"users":
  [...], "totalRecords": n, "deactivateMissingUsers": false, "updateOnlyPresentFields": true}``
  with ``username``, ``externalSystemId`` (our reader id), ``barcode``, ``active``,
  ``patronGroup`` (our category), ``enrollmentDate``, ``expirationDate`` and ``personal``
  (``lastName``, ``phone``, ``preferredContactTypeId`` "phone").

MARC 21 is not offered: its bibliographic, holdings and authority formats are not for patrons.
ID numbers are left out unless the library asks (``RECORD_SERVER_EXPORT_ID_NUMBERS=1``; then
``id_number`` in the generic CSV, Koha's ``sort1`` and FOLIO's ``customFields.idNumber``).
Phones as stored. The card number is the reader's newest active card's.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from library_core.clock import CHINA_TZ
from record_server import models as m

ENV_ID_NUMBERS = "RECORD_SERVER_EXPORT_ID_NUMBERS"
FORMATS = ("koha-csv", "generic-csv", "folio-json")
KOHA_COLUMNS = ("cardnumber", "surname", "firstname", "categorycode", "branchcode",
                "dateenrolled", "dateexpiry", "phone", "userid")
GENERIC_COLUMNS = ("card_no", "name", "category", "branch", "registered_on", "expires_on",
                   "phone", "reader_id", "kiosk_id")
MAX_ROWS = 200_000


def id_numbers_allowed() -> bool:
    """Whether the library asked for ID numbers in exports (``RECORD_SERVER_EXPORT_ID_NUMBERS``)."""
    return os.environ.get(ENV_ID_NUMBERS, "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class ExportedReader:
    reader_id: str
    card_no: str
    name: str
    category: str
    branch: str
    registered_on: str
    expires_on: str
    phone: str
    kiosk_id: str
    id_number: str


def new_readers(conn: Connection, *, since: dt.date) -> list[ExportedReader]:
    """Active readers registered on or after ``since`` (China's local day), oldest first, each
    with its newest active card (readers without one are left out: the ILS needs a barcode)."""
    r, c, k = m.readers.c, m.cards.c, m.kiosks.c
    start = dt.datetime.combine(since, dt.time(0), CHINA_TZ)
    rows = conn.execute(
        select(r.reader_id, r.name, r.category, r.phone, r.id_number, r.registered_at,
               r.kiosk_id, c.card_no, c.generation, c.expires_on, k.branch)
        .select_from(m.readers.join(m.cards, c.reader_id == r.reader_id)
                     .outerjoin(m.kiosks, k.kiosk_id == r.kiosk_id))
        .where(r.status == "active", r.merged_into.is_(None), c.status == "active")
        .order_by(r.registered_at, r.reader_id, c.generation.desc())).all()
    out: dict[str, ExportedReader] = {}
    for row in rows:
        registered = dt.datetime.fromisoformat(row.registered_at)
        if registered.tzinfo is None:
            registered = registered.replace(tzinfo=CHINA_TZ)
        if registered < start or row.reader_id in out:
            continue
        out[row.reader_id] = ExportedReader(
            reader_id=row.reader_id, card_no=row.card_no, name=row.name, category=row.category,
            branch=row.branch or "main",
            registered_on=registered.astimezone(CHINA_TZ).date().isoformat(),
            expires_on=row.expires_on, phone=row.phone, kiosk_id=row.kiosk_id or "",
            id_number=row.id_number)
        if len(out) >= MAX_ROWS:
            break
    return list(out.values())


def _safe(value: str) -> str:
    """A name a spreadsheet will not run as a formula (``=``, ``+``, ``-``, ``@`` first);
    card numbers, dates and phones are left exactly as stored."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def render(readers: list[ExportedReader], fmt: str, *, with_id_numbers: bool) -> bytes:
    """The export file's bytes. Raises ValueError for an unknown format."""
    if fmt == "folio-json":
        return _folio(readers, with_id_numbers).encode("utf-8")
    if fmt == "koha-csv":
        columns: tuple[str, ...] = KOHA_COLUMNS + (("sort1",) if with_id_numbers else ())
        rows = [[r.card_no, _safe(r.name), "", r.category.upper(), r.branch, r.registered_on,
                 r.expires_on, r.phone, r.card_no] + ([r.id_number] if with_id_numbers else [])
                for r in readers]
    elif fmt == "generic-csv":
        columns = GENERIC_COLUMNS + (("id_number",) if with_id_numbers else ())
        rows = [[r.card_no, _safe(r.name), r.category, r.branch, r.registered_on, r.expires_on,
                 r.phone, r.reader_id, r.kiosk_id] + ([r.id_number] if with_id_numbers else [])
                for r in readers]
    else:
        raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([[str(v) for v in row] for row in rows])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _folio(readers: list[ExportedReader], with_id_numbers: bool) -> str:
    users: list[dict[str, Any]] = []
    for r in readers:
        user: dict[str, Any] = {
            "username": r.card_no, "externalSystemId": r.reader_id, "barcode": r.card_no,
            "active": True, "patronGroup": r.category,
            "enrollmentDate": r.registered_on, "expirationDate": r.expires_on,
            "personal": {"lastName": r.name, "phone": r.phone,
                         "preferredContactTypeId": "phone"}}
        if with_id_numbers:
            user["customFields"] = {"idNumber": r.id_number}
        users.append(user)
    return json.dumps({"users": users, "totalRecords": len(users),
                       "deactivateMissingUsers": False, "updateOnlyPresentFields": True},
                      ensure_ascii=False, indent=2)


def filename(fmt: str, since: dt.date) -> str:
    ext = "json" if fmt == "folio-json" else "csv"
    return f"readers-{fmt}-since-{since.isoformat()}.{ext}"

"""The finance page's bill import (issue 13.3): a provider's daily bill file, checked and parsed
with ``record_server.reconcile``'s parsers, set against our books, and kept as a
reconciliation run (``finance_tables.reconciliation_runs``) with its audit row in the same
transaction.

Before anything is parsed the file is screened: at most ``MAX_BILL`` bytes, no control
characters (C0 but tab, CR and LF; DEL; C1; Unicode bidi overrides), no spreadsheet formula in
any cell (a cell starting ``= + - @`` that is not a number), and the ids and times we keep or
show (transaction id, out-trade-number, time) of a plain shape. A refused file raises
``BillRefused(reason)``, where ``reason`` is the catalog suffix
(``console.recon.err.<reason>``), and nothing is stored.

The provider is the one chosen or, with ``auto``, the layout that parses (WeChat Pay's
``交易时间`` header or Alipay's ``支付宝交易号``). A file of the other provider than the one
chosen is refused as ``other_provider``.

Importing is a supervisor's: the member named is checked in the run's transaction
(``staff_unknown``, ``staff_inactive``, ``staff_role``), whoever calls it. Both ways in use
``import_bill``: the finance page (its signed-in supervisor) and ``record-server reconcile``
(``--staff``; ``read_bill`` reads the file at most ``MAX_BILL`` + 1 bytes).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from library_core.clock import CHINA_TZ
from library_core.contract import trade_no
from library_core.errors import ValidationError
from record_server import models as m
from record_server import reconcile as rc
from record_server.console import audit
from record_server.db import Database
from record_server.finance_tables import reconciliation_runs as runs

MAX_BILL = 8 * 1024 * 1024  # a day of 30,000 WeChat Pay trades is about 9 MB; a library's far less
MAX_DAYS = 31
RECENT = 20
IMPORTER_ROLE = "supervisor"  # console.pages_finance's Supervisor: the same rank
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NUMBER = re.compile(r"^[-+]?\d[\d,]*(\.\d+)?%?$")
_TXN = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_OTN = re.compile(r"^[0-9A-Za-z_-]{0,64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BillRefused(Exception):
    """A bill file refused before anything is stored; ``reason`` names why."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail[:200]


@dataclass(frozen=True, slots=True)
class Found:
    """One mismatch as the page shows it (amounts in fen)."""

    kind: str  # not_in_books | not_at_provider | amount_differs
    transaction_id: str
    out_trade_no: str
    receipt_no: str
    kiosk_id: str
    provider_amount: int
    books_amount: int

    @property
    def difference(self) -> int:
        return self.provider_amount - self.books_amount


def _text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BillRefused("encoding")


def screen(data: bytes) -> None:
    """Raises BillRefused (``empty``, ``too_big``, ``encoding``, ``control_chars``,
    ``formula``) naming the line."""
    if not data.strip():
        raise BillRefused("empty")
    if len(data) > MAX_BILL:
        raise BillRefused("too_big", f"{MAX_BILL // (1 << 20)} MB")
    for n, line in enumerate(_text(data).splitlines(), start=1):
        if _CONTROL.search(line):
            raise BillRefused("control_chars", f"line {n}")
        if line.lstrip().startswith("#"):
            continue
        for cell in next(csv.reader([line]), []):
            value = cell.strip().lstrip("`")
            if value[:1] in ("=", "+", "-", "@") and not _NUMBER.match(value):
                raise BillRefused("formula", f"line {n}: {value[:40]}")


def _checked(rows: list[rc.BillRow]) -> list[rc.BillRow]:
    for n, row in enumerate(rows, start=1):
        if not _TXN.match(row.transaction_id) or not _OTN.match(row.out_trade_no):
            raise BillRefused("bad_id", f"trade {n}: {row.transaction_id[:40]}")
        if not _TIME.match(row.at):
            raise BillRefused("bad_time", f"trade {n}: {row.at[:40]}")
    return rows


def _refused(err: ValidationError) -> BillRefused:
    return BillRefused(err.message_id.removeprefix("bill."), err.detail)


def _parses(provider: str, data: bytes) -> bool:
    try:
        rc.parse_bill(provider, data)
    except ValidationError:
        return False
    return True


def parse(provider: str, data: bytes) -> tuple[str, list[rc.BillRow]]:
    """The provider (``wechat`` | ``alipay``, or ``auto``: the layout that parses) and the
    bill's trades. Raises BillRefused."""
    screen(data)
    if provider == "auto":
        for kind in rc.PROVIDERS:
            try:
                return kind, _checked(rc.parse_bill(kind, data))
            except ValidationError as err:
                if err.message_id != "bill.format":
                    raise _refused(err) from err
        raise BillRefused("unknown_layout")
    if provider not in rc.PROVIDERS:
        raise BillRefused("provider", provider[:16])
    try:
        return provider, _checked(rc.parse_bill(provider, data))
    except ValidationError as err:
        other = next(p for p in rc.PROVIDERS if p != provider)
        if err.message_id == "bill.format" and _parses(other, data):
            raise BillRefused("other_provider", other) from err
        raise _refused(err) from err


def read_bill(path: str | Path) -> bytes:
    """A bill file's bytes, at most ``MAX_BILL`` (a FIFO or a device is read no further).
    Raises BillRefused(too_big | unreadable)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BILL + 1)
    except OSError as err:
        raise BillRefused("unreadable", err.strerror or type(err).__name__) from None
    if len(data) > MAX_BILL:
        raise BillRefused("too_big", f"{MAX_BILL // (1 << 20)} MB")
    return data


def _days(rows: list[rc.BillRow], day: str | Sequence[str]) -> list[str]:
    wanted = [d for d in ([day] if isinstance(day, str) else day) if d]
    if wanted:
        if len(wanted) > MAX_DAYS:
            raise BillRefused("too_many_days", str(len(wanted)))
        for one in wanted:
            try:
                dt.date.fromisoformat(one)
            except ValueError:
                raise BillRefused("bad_day", one[:10]) from None
            if not _DAY.match(one):
                raise BillRefused("bad_day", one[:10])
        return sorted(set(wanted))
    days = rc.bill_days(rows)
    if not days:
        raise BillRefused("no_day")
    if len(days) > MAX_DAYS:
        raise BillRefused("too_many_days", str(len(days)))
    return days


def _kiosks_by_no(conn: Connection) -> dict[int, str]:
    k = m.kiosks.c
    return {int(r.kiosk_no): r.kiosk_id for r in conn.execute(
        select(k.kiosk_no, k.kiosk_id).where(k.kiosk_no.is_not(None)))}


def _found(result: rc.Reconciliation, books: list[rc.BookedPayment],
           kiosks: dict[int, str]) -> list[Found]:
    by_receipt = {b.receipt_no: b for b in books}
    out = []
    for x in result.mismatches:
        booked = by_receipt.get(x.receipt_no)
        kiosk = booked.kiosk_id if booked else ""
        number = trade_no.kiosk_no_of(x.out_trade_no)
        if not kiosk and number is not None:  # money at the provider only: who asked for it
            kiosk = kiosks.get(number, "")
        out.append(Found(x.kind, x.transaction_id, x.out_trade_no, x.receipt_no, kiosk,
                         x.provider_amount, x.books_amount))
    return out


def _importer(conn: Connection, staff_no: str) -> None:
    """Raises BillRefused(staff_unknown | staff_inactive | staff_role) unless ``staff_no`` is
    an active member of at least ``IMPORTER_ROLE``'s rank."""
    from record_server.console.web import ROLE_RANK

    row = conn.execute(select(m.staff.c.role, m.staff.c.active).where(
        m.staff.c.staff_no == staff_no)).first()
    if row is None:
        raise BillRefused("staff_unknown", staff_no[:8])
    if not row.active:
        raise BillRefused("staff_inactive", staff_no[:8])
    if ROLE_RANK.get(row.role, -1) < ROLE_RANK[IMPORTER_ROLE]:
        raise BillRefused("staff_role", staff_no[:8])


def import_bill(db: Database, *, provider: str, file_name: str, data: bytes,
                day: str | Sequence[str], staff_no: str, now: dt.datetime) -> str:
    """Check, parse and reconcile ``data`` against our books of ``day`` (one, several, or the
    bill's own when empty); store the run and its audit row in one transaction, with the
    importer checked in it. The run's id. Raises BillRefused (nothing stored)."""
    kind, rows = parse(provider, data)
    days = _days(rows, day)
    run_id = secrets.token_hex(8)
    name = (file_name or "bill").replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name)[:200] or "bill"
    with db.write() as conn:
        _importer(conn, staff_no)
        books = rc.books_for(conn, kind, days)
        result = rc.reconcile(kind, rows, books)
        found = _found(result, books, _kiosks_by_no(conn))
        record = {"run_id": run_id, "created_at": now.isoformat(), "staff_no": staff_no,
                  "provider": kind, "file_name": name,
                  "file_sha256": hashlib.sha256(data).hexdigest(), "days": ",".join(days),
                  "bill_rows": len(rows), "matched": result.matched,
                  "mismatch_count": len(found), "provider_total": result.provider_total,
                  "books_total": result.books_total}
        conn.execute(runs.insert().values(
            **record, mismatches=json.dumps([asdict(f) for f in found], ensure_ascii=False)))
        audit.record(conn, staff_no=staff_no, action="finance.reconcile", now=now,
                     target=run_id, after={k: v for k, v in record.items() if k != "run_id"})
    return run_id


def _row(r: Any) -> dict[str, Any]:
    row = dict(r._mapping)
    row["days"] = [d for d in str(row["days"]).split(",") if d]
    row["created_local"] = dt.datetime.fromisoformat(row["created_at"]).astimezone(
        CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    if "mismatches" in row:
        row["mismatches"] = [Found(**f) for f in json.loads(row["mismatches"])]
    return row


def run(conn: Connection, run_id: str) -> dict[str, Any] | None:
    found = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
    return _row(found) if found is not None else None


def recent(conn: Connection, limit: int = RECENT) -> list[dict[str, Any]]:
    """The latest runs, newest first (without their mismatch lists)."""
    cols = [c for c in runs.c if c.name != "mismatches"]
    return [_row(r) for r in conn.execute(
        select(*cols).order_by(runs.c.created_at.desc()).limit(limit))]

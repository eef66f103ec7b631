"""A kiosk's number ranges: pushed numbers must be the pushing kiosk's own, and the highest
number it has used in each range is kept so a wiped or restored kiosk can resume.

How each number is formed on the kiosk (and so what "its range" is):
- card numbers: ``make_card_no(kiosk_no * 10^8 + counter)`` ("2", 12-digit serial, Luhn), so
  the serial's leading part is the kiosk's server-assigned number (1..65535);
- receipt numbers: ``format_receipt_no(kiosk_id, day, n)`` = ``K01-20261124-0001``;
- visit ids: ``{kiosk_id}-V{visit_no:06d}`` (the visitor pass carries kiosk_no + visit_no).

A number outside the range is refused with ``number_out_of_range: <field>``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, bindparam, case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from record_server import models as m
from record_server.ingest import rowcache
from record_server.ingest.context import Context, Reject

CARD_SERIAL_SPAN = 10**8  # card serials of kiosk n: n * 10^8 .. n * 10^8 + 99,999,999
CARD_SERIAL = "card_serial"
VISIT_NO = "visit_no"
RECEIPT_PREFIX = "receipt:"

_RECEIPT = re.compile(r"(?P<kiosk>[^-]+)-(?P<day>\d{8})-(?P<n>\d{4})")
_VISIT = re.compile(r"(?P<kiosk>[^-]+)-V(?P<n>\d{6,9})")
_KIOSK_NO = select(m.kiosks.c.kiosk_no).where(m.kiosks.c.kiosk_id == bindparam("k"))
_UPSERTS: dict[str, Any] = {}


def kiosk_no_of(conn: Connection, kiosk_id: str) -> int | None:
    """The kiosk's server-assigned number, read from the database once per batch (never kept
    by the process: another worker, or a re-enrollment, may have assigned it since)."""
    cache = rowcache.current(conn)
    if cache is not None and kiosk_id in cache.kiosk_nos:
        return cache.kiosk_nos[kiosk_id]
    value = conn.execute(_KIOSK_NO, {"k": kiosk_id}).scalar()
    if value is None:
        return None
    if cache is not None:
        cache.kiosk_nos[kiosk_id] = int(value)
    return int(value)


def _upsert(conn: Connection) -> Any:
    dialect = conn.dialect.name
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(m.kiosk_numbers)
        stmt = _UPSERTS[dialect] = ins.on_conflict_do_update(
            index_elements=["kiosk_id", "name"],
            set_={"value": case((ins.excluded.value > m.kiosk_numbers.c.value,
                                 ins.excluded.value), else_=m.kiosk_numbers.c.value)})
    return stmt


def _used(ctx: Context, name: str, value: int) -> None:
    """Keep ``value`` as used in range ``name``: at once, or (a batch without savepoints, whose
    every event is undone when one fails) with the batch's others at its end (``write_used``)."""
    cache = rowcache.current(ctx.conn)
    if cache is not None and cache.numbers is not None:
        key = (ctx.kiosk_id, name)
        if value > cache.numbers.get(key, -1):
            cache.numbers[key] = value
        return
    ctx.conn.execute(_upsert(ctx.conn), {"kiosk_id": ctx.kiosk_id, "name": name, "value": value})


def write_used(conn: Connection, numbers: dict[tuple[str, str], int]) -> None:
    """The highest numbers a batch used, one upsert (executemany) for all of them."""
    conn.execute(_upsert(conn), [{"kiosk_id": k, "name": name, "value": v}
                                 for (k, name), v in sorted(numbers.items())])


def check_card_no(ctx: Context, card_no: str, field: str = "card_no") -> None:
    """A card number the pushing kiosk made: its serial is in the kiosk's block."""
    kiosk_no = kiosk_no_of(ctx.conn, ctx.kiosk_id)
    serial = int(card_no[1:13]) if card_no[1:13].isdigit() else -1
    if kiosk_no is None or serial // CARD_SERIAL_SPAN != kiosk_no:
        raise Reject(f"number_out_of_range: {field}")
    _used(ctx, CARD_SERIAL, serial - kiosk_no * CARD_SERIAL_SPAN)


def check_receipt_no(ctx: Context, receipt_no: str) -> None:
    match = _RECEIPT.fullmatch(receipt_no)
    if match is None or match["kiosk"] != ctx.kiosk_id:
        raise Reject("number_out_of_range: receipt_no")
    day = match["day"]
    _used(ctx, f"{RECEIPT_PREFIX}{day[:4]}-{day[4:6]}-{day[6:]}", int(match["n"]))


def check_visit_id(ctx: Context, visit_id: str) -> None:
    match = _VISIT.fullmatch(visit_id)
    if match is None or match["kiosk"] != ctx.kiosk_id:
        raise Reject("number_out_of_range: visit_id")
    _used(ctx, VISIT_NO, int(match["n"]))


def position(conn: Connection, kiosk_id: str, *, receipts_since: str) -> dict[str, Any]:
    """The highest numbers a kiosk has used (its pushed events): card serial counter, visit
    number, receipt number per day from ``receipts_since`` (YYYY-MM-DD) on."""
    rows = conn.execute(select(m.kiosk_numbers.c.name, m.kiosk_numbers.c.value)
                        .where(m.kiosk_numbers.c.kiosk_id == kiosk_id)).all()
    used = {r.name: int(r.value) for r in rows}
    receipts: dict[str, int] = {}
    for name, value in used.items():  # a day's highest number used, or reserved (below)
        for prefix in (RECEIPT_PREFIX, RESERVED_PREFIX):
            day = name[len(prefix):]
            if name.startswith(prefix) and day >= receipts_since:
                receipts[day] = max(receipts.get(day, 0), value)
    return {"card_serial": used.get(CARD_SERIAL, 0), "visit_no": used.get(VISIT_NO, 0),
            "receipts": dict(sorted(receipts.items()))}


# ---- receipt number blocks (docs/security.md 4.7) --------------------------------------------
# A kiosk prints a receipt number only from a block the server has reserved for it: every
# sync it tops up today's and tomorrow's ceiling (server_client/sync/receipt_blocks.py). The
# ceiling is kept with the numbers used, and ``position`` answers the higher of the two, so a
# kiosk whose store is wiped resumes above every number it could have printed, pushed or not.

RESERVED_PREFIX = "reserved:"  # + day (kiosk_numbers.name is 24 characters at most)
RECEIPT_BLOCK = 100  # numbers per reservation: a day's receipts at a busy kiosk, give or take
RECEIPT_MAX = 9999  # the number's four digits (format_receipt_no)


def reserve_receipts(conn: Connection, kiosk_id: str, day: str, after: int) -> int:
    """Reserve ``day``'s receipt numbers of ``kiosk_id`` up to a block above its counter
    ``after`` (believed only up to the ceiling already reserved, or the highest number seen
    used: a claimed counter beyond buys one block, not the day); returns the ceiling now
    reserved, never lowered."""
    rows = conn.execute(select(m.kiosk_numbers.c.name, m.kiosk_numbers.c.value).where(
        m.kiosk_numbers.c.kiosk_id == kiosk_id,
        m.kiosk_numbers.c.name.in_([f"{RECEIPT_PREFIX}{day}", f"{RESERVED_PREFIX}{day}"]))).all()
    have = {r.name: int(r.value) for r in rows}
    reserved = have.get(f"{RESERVED_PREFIX}{day}", 0)
    counter = max(min(after, reserved), have.get(f"{RECEIPT_PREFIX}{day}", 0))
    ceiling = min(RECEIPT_MAX, max(reserved, counter + RECEIPT_BLOCK))
    conn.execute(_upsert(conn), {"kiosk_id": kiosk_id, "name": f"{RESERVED_PREFIX}{day}",
                                 "value": ceiling})
    return ceiling

"""Readers in the console: search, a reader's file, and the desk's and supervisor's actions.

Each action runs in the caller's write transaction and returns the state before and after for
the audit log (the ID number and phone masked there too). A card reported lost goes through
the desk's own block (``crud.cards.block_card``): the card is blocked at once and its change
is published, so every kiosk's next pull refuses it, blocked cards first.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from library_core.clock import CHINA_TZ
from library_core.errors import ValidationError
from library_core.fees import FeeKind
from library_core.identity import (
    id_number_hash,
    mask_mobile,
    mask_resident_id,
    normalize_resident_id,
    validate_mobile,
)
from library_core.rules import CARD_CANCELLED, LIVE_CARD_STATUSES, deposit_refund_refusal
from record_server import models as m
from record_server.changes import publish
from record_server.crud.cards import block_card

SEARCH_LIMIT = 50
_CARD_NO = re.compile(r"^2\d{13}$")
_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
CONSOLE_KIOSK = "CONSOLE"  # payments made at the office (kiosk_id of a console refund)


class ActionRefused(ValidationError):
    """An action the reader's state does not allow; ``message_id`` names why."""


def _brief(row: Any) -> dict[str, Any]:
    return {"reader_id": row.reader_id, "name": row.name,
            "id_masked": mask_resident_id(str(row.id_number or "")),
            "phone_masked": mask_mobile(str(row.phone or "")), "status": row.status,
            "category": row.category}


_READER_COLS = (m.readers.c.reader_id, m.readers.c.name, m.readers.c.id_number,
                m.readers.c.phone, m.readers.c.status, m.readers.c.category)


def search(conn: Connection, query: str, *,
           library_key: bytes) -> tuple[str, list[dict[str, Any]]]:
    """Readers matching ``query``: a card number (exact), a whole ID number (its keyed hash
    with ``library_key`` against the indexed ``readers.id_hash``: clear numbers are never
    compared, and shown only masked), else a name prefix. Returns (what was matched:
    ``card``/``id_number``/``name``, rows)."""
    q = query.strip()
    if not q:
        return "name", []
    if _CARD_NO.match(q):
        stmt = (select(*_READER_COLS).join(m.cards, m.cards.c.reader_id == m.readers.c.reader_id)
                .where(m.cards.c.card_no == q))
        return "card", [_brief(r) for r in conn.execute(stmt)]
    id_number = normalize_resident_id(q)
    if _ID_NUMBER.match(id_number):
        stmt = select(*_READER_COLS).where(
            m.readers.c.id_hash == id_number_hash(id_number, library_key))
        return "id_number", [_brief(r) for r in conn.execute(stmt.limit(SEARCH_LIMIT))]
    name = m.readers.c.name
    if conn.dialect.name == "postgresql":  # code-point order, as ix_readers_name_prefix has it
        name = name.collate("C")  # type: ignore[assignment]
    after = _prefix_end(q)
    stmt = (select(*_READER_COLS)
            .where(name >= q, *([name < after] if after is not None else []))
            .order_by(name, m.readers.c.reader_id).limit(SEARCH_LIMIT))
    return "name", [_brief(r) for r in conn.execute(stmt)]


def _prefix_end(prefix: str) -> str | None:
    """The least text after every text that starts with ``prefix`` (code-point order): its
    last character's successor; None when there is none. ``name >= prefix AND name < end`` is
    the name prefix as an index range (a LIKE with a bound pattern is not, under a prepared
    statement's generic plan, nor under a linguistic collation)."""
    for cut in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[cut]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # no text holds a lone surrogate
        if code <= 0x10FFFF:
            return prefix[:cut] + chr(code)
    return None


def reader_file(conn: Connection, reader_id: str) -> dict[str, Any] | None:
    """Everything the reader's page shows, masked; None for no such reader."""
    row = conn.execute(select(m.readers).where(m.readers.c.reader_id == reader_id)).first()
    if row is None:
        return None
    out = _brief(row)
    out.update(credit=int(row.credit), registered_at=row.registered_at,
               merged_into=row.merged_into, kiosk_id=row.kiosk_id)
    out["cards"] = [dict(r._mapping) for r in conn.execute(
        select(m.cards).where(m.cards.c.reader_id == reader_id)
        .order_by(m.cards.c.generation.desc(), m.cards.c.issued_at.desc()))]
    out["fees"] = [dict(r._mapping) for r in conn.execute(
        select(m.fees).where(m.fees.c.reader_id == reader_id)
        .order_by(m.fees.c.created_at.desc()))]
    out["payments"] = [dict(r._mapping) for r in conn.execute(
        select(m.payments.c.receipt_no, m.payments.c.kind, m.payments.c.method,
               m.payments.c.amount, m.payments.c.kiosk_id, m.payments.c.staff_no,
               m.payments.c.occurred_at)
        .where(m.payments.c.reader_id == reader_id)
        .order_by(m.payments.c.occurred_at.desc()).limit(200))]
    out["loans"] = [dict(r._mapping) for r in conn.execute(
        select(m.loans.c.loan_id, m.loans.c.item_barcode, m.loans.c.borrowed_at,
               m.loans.c.due_on, m.loans.c.returned_at, m.loans.c.renewals, m.items.c.title)
        .join(m.items, m.items.c.barcode == m.loans.c.item_barcode, isouter=True)
        .where(m.loans.c.reader_id == reader_id)
        .order_by(m.loans.c.borrowed_at.desc()).limit(200))]
    pin = conn.execute(select(m.reader_pin_state)
                       .where(m.reader_pin_state.c.reader_id == reader_id)).first()
    out["pin_failures"] = int(pin.failures) if pin is not None else 0
    out["pin_locked_until"] = pin.locked_until if pin is not None else None
    out["owed"] = sum(max(0, int(f["amount"]) - int(f["paid"])) for f in out["fees"]
                      if f["status"] == "open")
    out["deposit_held"] = deposit_held(conn, reader_id)
    cards = [c["card_no"] for c in out["cards"]]
    out["desk_actions"] = [dict(r._mapping) for r in conn.execute(
        select(m.desk_actions).where(m.desk_actions.c.target.in_(cards))
        .order_by(m.desk_actions.c.id.desc()).limit(100))] if cards else []
    return out


def full_identity(conn: Connection, reader_id: str) -> dict[str, str] | None:
    """The clear ID number and phone (a supervisor's reveal; the caller audits it)."""
    row = conn.execute(select(m.readers.c.id_number, m.readers.c.phone)
                       .where(m.readers.c.reader_id == reader_id)).first()
    return None if row is None else {"id_number": row.id_number, "phone": row.phone}


def deposit_held(conn: Connection, reader_id: str) -> int:
    paid = conn.execute(select(func.coalesce(func.sum(m.fees.c.paid), 0)).where(
        m.fees.c.reader_id == reader_id, m.fees.c.kind == str(FeeKind.DEPOSIT))).scalar_one()
    refunded = conn.execute(select(func.coalesce(func.sum(m.payments.c.amount), 0)).where(
        m.payments.c.reader_id == reader_id, m.payments.c.kind == "refund")).scalar_one()
    return int(paid) - int(refunded)


def _card_of(conn: Connection, reader_id: str, card_no: str) -> Any:
    row = conn.execute(select(m.cards).where(m.cards.c.card_no == card_no,
                                             m.cards.c.reader_id == reader_id)).first()
    if row is None:
        raise ActionRefused("console.error.not_found", "no such card of this reader")
    return row


def report_lost(conn: Connection, *, reader_id: str, card_no: str, note: str, staff_no: str,
                now: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Block the reader's card as lost (the desk's block, published to every kiosk)."""
    card = _card_of(conn, reader_id, card_no)
    if card.status != "active":
        raise ActionRefused("console.readers.card_not_active", "the card is not active")
    after = block_card(conn, card_no=card_no, reason="lost", note=note, staff_no=staff_no,
                       now=now.isoformat())
    return {"status": card.status}, {"status": after["status"]}


def unlock_pin(conn: Connection, reader_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    row = conn.execute(select(m.reader_pin_state)
                       .where(m.reader_pin_state.c.reader_id == reader_id)).first()
    if row is None or (not row.failures and not row.locked_until):
        raise ActionRefused("console.readers.pin_not_locked", "nothing to unlock")
    conn.execute(delete(m.reader_pin_state).where(m.reader_pin_state.c.reader_id == reader_id))
    return ({"failures": row.failures, "locked_until": row.locked_until},
            {"failures": 0, "locked_until": None})


def correct_phone(conn: Connection, reader_id: str,
                  phone: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raises ValidationError (``phone.invalid``)."""
    value = validate_mobile(phone)
    before = conn.execute(select(m.readers.c.phone)
                          .where(m.readers.c.reader_id == reader_id)).scalar()
    if before is None:
        raise ActionRefused("console.error.not_found", "no such reader")
    conn.execute(update(m.readers).where(m.readers.c.reader_id == reader_id).values(phone=value))
    publish(conn, {"reader": {reader_id}})  # kiosks see the new masked phone
    return {"phone": mask_mobile(str(before))}, {"phone": mask_mobile(value)}


def waive_fee(conn: Connection, reader_id: str,
              fee_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    fee = conn.execute(select(m.fees).where(m.fees.c.fee_id == fee_id,
                                            m.fees.c.reader_id == reader_id)).first()
    if fee is None:
        raise ActionRefused("console.error.not_found", "no such fee of this reader")
    if fee.status != "open":
        raise ActionRefused("console.readers.fee_not_open", "the fee is not open")
    conn.execute(update(m.fees).where(m.fees.c.fee_id == fee_id).values(status="waived"))
    publish(conn, {"fee": {fee_id}})
    return ({"status": fee.status, "amount": fee.amount, "paid": fee.paid},
            {"status": "waived", "amount": fee.amount, "paid": fee.paid})


def _console_receipt_no(conn: Connection, now: dt.datetime) -> str:
    prefix = f"{CONSOLE_KIOSK}-{now.astimezone(CHINA_TZ).date():%Y%m%d}-"
    taken = conn.execute(select(func.count()).select_from(m.payments).where(
        m.payments.c.receipt_no.startswith(prefix))).scalar_one()
    return f"{prefix}{int(taken) + 1:04d}"


def cancel_and_refund(conn: Connection, *, reader_id: str, staff_no: str, reason: str,
                      now: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cancel every live card of the reader and refund the deposit held (cash at the office),
    by the kiosk's rule (``deposit_refund_refusal``). Raises ActionRefused naming the rule."""
    cards = conn.execute(select(m.cards.c.card_no, m.cards.c.status)
                         .where(m.cards.c.reader_id == reader_id)).all()
    if not cards:
        raise ActionRefused("console.readers.no_cards", "the reader has no card")
    held = deposit_held(conn, reader_id)
    statuses = [CARD_CANCELLED if s in LIVE_CARD_STATUSES else s for _c, s in cards]
    refusal = deposit_refund_refusal(held, deposit_paid=held, refunded=0, card_statuses=statuses)
    if refusal is not None:
        raise ActionRefused(f"console.readers.{refusal}", refusal)
    for card_no, status in cards:
        if status in LIVE_CARD_STATUSES:
            block_card(conn, card_no=card_no, reason=CARD_CANCELLED, note=reason,
                       staff_no=staff_no, now=now.isoformat())
    receipt_no = _console_receipt_no(conn, now)
    conn.execute(m.payments.insert().values(
        payment_id=f"console-refund:{reader_id}:{now.isoformat()}"[:64], kind="refund",
        reader_id=reader_id, receipt_no=receipt_no, method="cash", amount=held, credited=0,
        kiosk_id=CONSOLE_KIOSK, staff_no=staff_no, occurred_at=now.isoformat(),
        occurred_day=now.astimezone(CHINA_TZ).date().isoformat()))
    return ({"cards": {c: s for c, s in cards}, "deposit_held": held},
            {"cards": {c: (CARD_CANCELLED if s in LIVE_CARD_STATUSES else s) for c, s in cards},
             "deposit_held": 0, "refund": held, "receipt_no": receipt_no})

"""Apply pushed kiosk events: exactly once, in order per kiosk, with the kiosk's business rules.

One database transaction per batch (one commit, one fsync; the change counter row is locked
while the batch publishes its changes, so pulls see changes in order). The batch runs first
without per-event savepoints; if any event is refused it is rolled back and run again with a
savepoint per event, so a failing event is answered ``rejected`` without undoing the others. Idempotency: ``events.event_id`` is the
primary key and ``(kiosk_id, seq)`` is unique. A ``seq`` above the next expected one is
answered ``rejected`` with detail ``gap`` and is not stored, so the kiosk resends in order;
priority events (card blocks) are applied ahead of order and their ``seq`` is skipped later.

Conflict rules (named, recorded in ``conflicts``, answered with ``rule``):
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticError
from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from library_core import events as ev
from library_core.clock import CHINA_TZ, Clock
from library_core.fees import FeeSchedule, overdue_fine
from record_server import models as m
from record_server import schemas as s
from record_server.changes import publish
from record_server.db import Database

log = logging.getLogger(__name__)

RULE_BLOCK_BEATS_RENEWAL = "card_block_beats_offline_renewal"
RULE_DOUBLE_PAYMENT = "double_payment_becomes_credit"
RULE_RETURN_AFTER_RENEWAL = "return_after_loan_renewal_uses_renewed_due_date"
RULE_SAME_ID_NUMBER = "same_id_number_merges_into_first_reader"
RULE_RETURNED_TWICE = "loan_returned_twice_keeps_first_return"
RULES = {
    RULE_BLOCK_BEATS_RENEWAL: "A card reported lost or cancelled stays blocked; a renewal made "
    "offline on it is not applied and its fee is credited to the reader.",
    RULE_DOUBLE_PAYMENT: "A fee paid twice (two kiosks) counts once; the second amount becomes "
    "credit on the reader's account.",
    RULE_RETURN_AFTER_RENEWAL: "A return synced after the loan was renewed is applied; its fine is "
    "recomputed from the renewed due date and any excess already paid is credited.",
    RULE_SAME_ID_NUMBER: "A reader registered at two kiosks with the same ID number is merged "
    "into the reader registered first; the second record's cards and fees move to it.",
    RULE_RETURNED_TWICE: "A loan returned at two kiosks is checked in once; the second fine is "
    "not charged.",
}
__doc__ = (__doc__ or "") + "\n".join(f"- ``{k}``: {v}" for k, v in RULES.items())


class Reject(Exception):
    """A business rule refused the event; ``reason`` goes back to the kiosk."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Outcome:
    status: str = "applied"
    rule: str | None = None
    detail: str | None = None


@dataclass
class Context:
    conn: Connection
    kiosk_id: str
    event_id: str
    occurred_at: dt.datetime
    now: str
    schedule: FeeSchedule
    touched: dict[str, set[str]] = field(default_factory=dict)
    outcome: Outcome = field(default_factory=Outcome)

    def touch(self, entity: str, entity_id: str) -> None:
        self.touched.setdefault(entity, set()).add(entity_id)

    def conflict(self, rule: str, entity: str, entity_id: str, decision: str,
                 **detail: Any) -> None:
        _insert(self.conn, m.conflicts, dict(
            rule=rule, kiosk_id=self.kiosk_id, event_id=self.event_id, entity=entity,
            entity_id=entity_id, decision=decision,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
            created_at=self.now, resolved=False))
        self.outcome = Outcome("conflict", rule, decision)
        log.info("conflict %s on %s %s (event %s)", rule, entity, entity_id, self.event_id)

    def credit(self, reader_id: str, amount: int, rule: str) -> None:
        if amount <= 0:
            return
        self.conn.execute(_ADD_CREDIT, {"_key": reader_id, "amount": amount})
        _insert(self.conn, m.credit_entries, dict(
            reader_id=reader_id, amount=amount, rule=rule, event_id=self.event_id,
            created_at=self.now))
        self.touch("reader", reader_id)


def local_day(when: dt.datetime) -> str:
    return when.astimezone(CHINA_TZ).date().isoformat()


# ---- helpers -----------------------------------------------------------------------------------

_BY_KEY: dict[tuple[str, str], Any] = {}
_UPDATES: dict[tuple[str, str, tuple[str, ...]], Any] = {}
_INSERTS: dict[str, Any] = {}


def _row(conn: Connection, table: Any, key: Any, value: str) -> Any:
    """The row of ``table`` whose ``key`` is ``value`` (one cached statement per table/key)."""
    stmt = _BY_KEY.get((table.name, key.name))
    if stmt is None:
        stmt = _BY_KEY[(table.name, key.name)] = select(table).where(key == bindparam("v"))
    return conn.execute(stmt, {"v": value}).first()


def _update(conn: Connection, table: Any, key: Any, value: str, **values: Any) -> None:
    """UPDATE table SET values WHERE key = value, one prebuilt statement per set of columns
    (building and hashing a new statement per call was most of the ingest CPU)."""
    cols = tuple(sorted(values))
    stmt = _UPDATES.get((table.name, key.name, cols))
    if stmt is None:
        stmt = _UPDATES[(table.name, key.name, cols)] = (
            update(table).where(key == bindparam("_key"))
            .values({c: bindparam(c) for c in cols}))
    conn.execute(stmt, {"_key": value, **values})


def _insert(conn: Connection, table: Any, values: dict[str, Any]) -> None:
    stmt = _INSERTS.get(table.name)
    if stmt is None:
        stmt = _INSERTS[table.name] = insert(table)
    conn.execute(stmt, values)


_READER_MERGED = select(m.readers.c.reader_id, m.readers.c.merged_into).where(
    m.readers.c.reader_id == bindparam("v"))
_FIRST_BY_ID_NUMBER = (
    select(m.readers.c.reader_id).where(
        m.readers.c.id_number == bindparam("id_number"), m.readers.c.status == "active",
        m.readers.c.merged_into.is_(None))
    .order_by(m.readers.c.registered_at).limit(1))
# PostgreSQL: an active reader is inserted unless another with the same ID number is already
# there (committed by a concurrent batch of another kiosk: the insert waits for it, then does
# nothing). The partial unique index ``uq_readers_active_id_number`` is the arbiter.
_INSERT_ACTIVE_READER_PG = (
    pg_insert(m.readers)
    .on_conflict_do_nothing(index_elements=[m.readers.c.id_number],
                            index_where=text(m.ACTIVE_ID_NUMBER_WHERE))
    .returning(m.readers.c.reader_id))
_ADD_CREDIT = (update(m.readers).where(m.readers.c.reader_id == bindparam("_key"))
               .values(credit=m.readers.c.credit + bindparam("amount")))
_KIOSK = select(m.kiosks.c.next_seq, m.kiosks.c.revoked_at).where(
    m.kiosks.c.kiosk_id == bindparam("kiosk_id"))
_KIOSK_FOR_UPDATE = _KIOSK.with_for_update()
_SEEN = select(m.events.c.event_id, m.events.c.status, m.events.c.kiosk_id).where(
    m.events.c.event_id.in_(bindparam("ids", expanding=True)))
_PRESENT = select(m.events.c.seq).where(m.events.c.kiosk_id == bindparam("kiosk_id"),
                                        m.events.c.seq >= bindparam("next_seq"))
_INSERT_EVENTS = insert(m.events)
_KIOSK_DONE = (update(m.kiosks).where(m.kiosks.c.kiosk_id == bindparam("_key"))
               .values(next_seq=bindparam("next_seq"), last_push_at=bindparam("last_push_at")))


def resolve_reader(ctx: Context, reader_id: str) -> str:
    """The reader an id stands for (following merges). Raises Reject(unknown_reader)."""
    for _ in range(5):
        row = ctx.conn.execute(_READER_MERGED, {"v": reader_id}).first()
        if row is None:
            raise Reject("unknown_reader")
        if not row.merged_into:
            return str(row.reader_id)
        reader_id = row.merged_into
    raise Reject("unknown_reader")


def _card(ctx: Context, card_no: str) -> Any:
    row = _row(ctx.conn, m.cards, m.cards.c.card_no, card_no)
    if row is None:
        raise Reject("unknown_card")
    return row


def _set_card(ctx: Context, card_no: str, **values: Any) -> None:
    _update(ctx.conn, m.cards, m.cards.c.card_no, card_no, **values)
    ctx.touch("card", card_no)


# ---- handlers ----------------------------------------------------------------------------------

def reader_registered(ctx: Context, p: s.ReaderRegistered) -> None:
    conn = ctx.conn
    if _row(conn, m.readers, m.readers.c.reader_id, p.reader_id) is not None:
        raise Reject("reader_exists")
    first = conn.execute(_FIRST_BY_ID_NUMBER, {"id_number": p.id_number}).first()
    row = dict(reader_id=p.reader_id, name=p.name, id_number=p.id_number, phone=p.phone,
               category=p.category, pin_hash=p.pin_hash, status="active", credit=0,
               registered_at=p.registered_at, merged_into=None, kiosk_id=ctx.kiosk_id)
    if first is None:
        if conn.dialect.name != "postgresql":
            _insert(conn, m.readers, row)  # SQLite: one writer at a time, the check above holds
            ctx.touch("reader", p.reader_id)
            return
        if conn.execute(_INSERT_ACTIVE_READER_PG, row).first() is not None:
            ctx.touch("reader", p.reader_id)
            return
        # the unique index refused it: another kiosk's batch registered this ID number
        # meanwhile (committed now, so visible to this statement): that reader came first
        first = conn.execute(_FIRST_BY_ID_NUMBER, {"id_number": p.id_number}).first()
        if first is None:
            raise Reject("id_number_taken")
        log.info("reader %s: ID number registered concurrently as %s", p.reader_id,
                 first.reader_id)
    _insert(conn, m.readers, dict(row, status="cancelled", merged_into=first.reader_id))
    ctx.touch("reader", p.reader_id)
    ctx.conflict(RULE_SAME_ID_NUMBER, "reader", first.reader_id,
                 f"reader {p.reader_id} merged into {first.reader_id}",
                 kept=first.reader_id, merged=p.reader_id)


def card_issued(ctx: Context, p: s.CardIssued) -> None:
    reader_id = resolve_reader(ctx, p.reader_id)
    if _row(ctx.conn, m.cards, m.cards.c.card_no, p.card_no) is not None:
        raise Reject("card_exists")
    _insert(ctx.conn, m.cards, dict(
        card_no=p.card_no, reader_id=reader_id, uid=p.uid.upper(), generation=p.generation,
        status="active", issued_at=ctx.occurred_at.isoformat(), expires_on=p.expires_on))
    ctx.touch("card", p.card_no)


def card_renewed(ctx: Context, p: s.CardRenewed) -> None:
    card = _card(ctx, p.card_no)
    if card.status != "active":
        fee = ctx.schedule.renewal_fee * max(1, -(-p.months // 12))
        ctx.credit(card.reader_id, fee, RULE_BLOCK_BEATS_RENEWAL)
        ctx.conflict(RULE_BLOCK_BEATS_RENEWAL, "card", p.card_no,
                     f"card stays {card.status}; renewal not applied; {fee} fen credited",
                     card_status=card.status, renewal_expires_on=p.expires_on, credited=fee,
                     reader_id=card.reader_id)
        return
    if p.expires_on > card.expires_on:
        _set_card(ctx, p.card_no, expires_on=p.expires_on)


def card_blocked(ctx: Context, p: s.CardBlocked) -> None:
    card = _card(ctx, p.card_no)
    if card.status in ("active",):
        _set_card(ctx, p.card_no, status=p.reason)
    elif card.status == "lost" and p.reason == "cancelled":
        _set_card(ctx, p.card_no, status="cancelled")


def card_replaced(ctx: Context, p: s.CardReplaced) -> None:
    old = _card(ctx, p.old_card_no)
    reader_id = resolve_reader(ctx, p.reader_id)
    if _row(ctx.conn, m.cards, m.cards.c.card_no, p.card_no) is not None:
        raise Reject("card_exists")
    if p.generation <= old.generation:
        raise Reject("generation_not_higher")
    if old.status in ("active", "lost"):
        _set_card(ctx, p.old_card_no, status="replaced")
    _insert(ctx.conn, m.cards, dict(
        card_no=p.card_no, reader_id=reader_id, uid=p.uid.upper(), generation=p.generation,
        status="active", issued_at=ctx.occurred_at.isoformat(), expires_on=p.expires_on))
    ctx.touch("card", p.card_no)


def card_cancelled(ctx: Context, p: s.CardCancelled) -> None:
    card = _card(ctx, p.card_no)
    if card.status != "cancelled":
        _set_card(ctx, p.card_no, status="cancelled")


def fee_assessed(ctx: Context, p: s.FeeAssessed) -> None:
    reader_id = resolve_reader(ctx, p.reader_id)
    if _row(ctx.conn, m.fees, m.fees.c.fee_id, p.fee_id) is not None:
        raise Reject("fee_exists")
    amount = p.amount
    if p.loan_id and p.kind == "overdue":
        loan = _row(ctx.conn, m.loans, m.loans.c.loan_id, p.loan_id)
        if loan is not None and loan.fine_allowed is not None and amount > loan.fine_allowed:
            amount = int(loan.fine_allowed)
            ctx.conflict(RULE_RETURN_AFTER_RENEWAL, "fee", p.fee_id,
                         f"fine lowered from {p.amount} to {amount} fen (loan was renewed)",
                         loan_id=p.loan_id, kiosk_amount=p.amount, amount=amount)
    _insert(ctx.conn, m.fees, dict(
        fee_id=p.fee_id, reader_id=reader_id, kind=p.kind, amount=amount, paid=0,
        status="paid" if amount == 0 else "open", description=p.description,
        created_at=ctx.occurred_at.isoformat(), loan_id=p.loan_id, item_barcode=p.item_barcode))
    ctx.touch("fee", p.fee_id)


def fee_waived(ctx: Context, p: s.FeeWaived) -> None:
    fee = _row(ctx.conn, m.fees, m.fees.c.fee_id, p.fee_id)
    if fee is None:
        raise Reject("unknown_fee")
    if fee.status == "paid":
        raise Reject("fee_already_paid")
    if fee.status == "open":
        _update(ctx.conn, m.fees, m.fees.c.fee_id, p.fee_id, status="waived")
        ctx.touch("fee", p.fee_id)


def payment_recorded(ctx: Context, p: s.PaymentRecorded) -> None:
    conn = ctx.conn
    if _row(conn, m.payments, m.payments.c.payment_id, p.payment_id) is not None:
        raise Reject("payment_exists")
    if _row(conn, m.payments, m.payments.c.receipt_no, p.receipt_no) is not None:
        raise Reject("receipt_no_exists")
    if sum(a.amount for a in p.allocations) > p.amount:
        raise Reject("allocations_exceed_amount")
    reader_id = resolve_reader(ctx, p.reader_id) if p.reader_id else None
    excess_total = 0
    doubled: list[str] = []
    fees = [_row(conn, m.fees, m.fees.c.fee_id, alloc.fee_id) for alloc in p.allocations]
    if any(fee is None for fee in fees):
        raise Reject("unknown_fee")
    updated: set[str] = set()
    for alloc, fee in zip(p.allocations, fees, strict=True):
        if fee.fee_id in updated:  # a second allocation to a fee this payment already changed
            fee = _row(conn, m.fees, m.fees.c.fee_id, alloc.fee_id)
        owed = 0 if fee.status == "waived" else max(0, fee.amount - fee.paid)
        take = min(owed, alloc.amount)
        if take:
            paid = fee.paid + take
            _update(conn, m.fees, m.fees.c.fee_id, fee.fee_id,
                    paid=paid, status="paid" if paid >= fee.amount else "open")
            updated.add(fee.fee_id)
            ctx.touch("fee", fee.fee_id)
        if alloc.amount > take:
            excess_total += alloc.amount - take
            doubled.append(fee.fee_id)
            reader_id = reader_id or fee.reader_id
    _insert(conn, m.payments, dict(
        payment_id=p.payment_id, kind="payment", reader_id=reader_id, receipt_no=p.receipt_no,
        method=p.method, amount=p.amount, credited=excess_total, kiosk_id=ctx.kiosk_id,
        staff_no=p.staff_no, occurred_at=ctx.occurred_at.isoformat(),
        occurred_day=local_day(ctx.occurred_at)))
    if p.method == "credit" and reader_id:
        conn.execute(_ADD_CREDIT, {"_key": reader_id, "amount": -p.amount})
        ctx.touch("reader", reader_id)
    if excess_total and reader_id:
        ctx.credit(reader_id, excess_total, RULE_DOUBLE_PAYMENT)
        ctx.conflict(RULE_DOUBLE_PAYMENT, "fee", doubled[0],
                     f"fee already paid; {excess_total} fen credited to reader {reader_id}",
                     fees=doubled, payment_id=p.payment_id, credited=excess_total,
                     reader_id=reader_id)


def deposit_refunded(ctx: Context, p: s.DepositRefunded) -> None:
    reader_id = resolve_reader(ctx, p.reader_id)
    if _row(ctx.conn, m.payments, m.payments.c.payment_id, p.payment_id) is not None:
        raise Reject("payment_exists")
    if _row(ctx.conn, m.payments, m.payments.c.receipt_no, p.receipt_no) is not None:
        raise Reject("receipt_no_exists")
    _insert(ctx.conn, m.payments, dict(
        payment_id=p.payment_id, kind="refund", reader_id=reader_id, receipt_no=p.receipt_no,
        method="cash", amount=p.amount, credited=0, kiosk_id=ctx.kiosk_id, staff_no=p.staff_no,
        occurred_at=ctx.occurred_at.isoformat(), occurred_day=local_day(ctx.occurred_at)))


def loan_returned(ctx: Context, p: s.LoanReturned) -> None:
    conn = ctx.conn
    loan = _row(conn, m.loans, m.loans.c.loan_id, p.loan_id)
    if loan is None:
        raise Reject("unknown_loan")
    if loan.item_barcode != p.item_barcode:
        raise Reject("item_does_not_match_loan")
    if loan.returned_at is not None:
        if p.fine_fee_id:
            _cancel_fine(ctx, p.fine_fee_id, 0)
        ctx.conflict(RULE_RETURNED_TWICE, "loan", p.loan_id,
                     "loan was already returned; this return changes nothing",
                     first_returned_at=loan.returned_at, returned_at=p.returned_at)
        return
    values: dict[str, Any] = {"returned_at": p.returned_at}
    renewed = loan.renewals > 0
    allowed = None
    if renewed:
        returned_on = dt.datetime.fromisoformat(p.returned_at).astimezone(CHINA_TZ).date()
        allowed = overdue_fine(dt.date.fromisoformat(loan.due_on), returned_on, ctx.schedule)
        values["fine_allowed"] = allowed
    _update(conn, m.loans, m.loans.c.loan_id, p.loan_id, **values)
    _update(conn, m.items, m.items.c.barcode, p.item_barcode, status="available")
    ctx.touch("loan", p.loan_id)
    ctx.touch("item", p.item_barcode)
    if renewed and allowed is not None:
        lowered = _cancel_fine(ctx, p.fine_fee_id, allowed) if p.fine_fee_id else None
        ctx.conflict(RULE_RETURN_AFTER_RENEWAL, "loan", p.loan_id,
                     f"returned; fine from renewed due date {loan.due_on} is {allowed} fen",
                     due_on=loan.due_on, fine_allowed=allowed, fine_fee_id=p.fine_fee_id,
                     fine_lowered_from=lowered)


def _cancel_fine(ctx: Context, fee_id: str, allowed: int) -> int | None:
    """Lower an already-assessed fine to ``allowed``; paid excess becomes credit."""
    fee = _row(ctx.conn, m.fees, m.fees.c.fee_id, fee_id)
    if fee is None or fee.amount <= allowed:
        return None
    excess_paid = max(0, fee.paid - allowed)
    status = "waived" if allowed == 0 and fee.paid == 0 else (
        "paid" if min(fee.paid, allowed) >= allowed else "open")
    _update(ctx.conn, m.fees, m.fees.c.fee_id, fee_id,
            amount=allowed, paid=min(fee.paid, allowed), status=status)
    ctx.touch("fee", fee_id)
    ctx.credit(fee.reader_id, excess_paid, RULE_RETURN_AFTER_RENEWAL)
    return int(fee.amount)


def visit_opened(ctx: Context, p: s.VisitOpened) -> None:
    if _row(ctx.conn, m.visits, m.visits.c.visit_id, p.visit_id) is not None:
        raise Reject("visit_exists")
    _insert(ctx.conn, m.visits, dict(
        visit_id=p.visit_id, kiosk_id=ctx.kiosk_id, name=p.name, phone=p.phone,
        id_number=p.id_number, purpose=p.purpose, host_department=p.host_department,
        opened_at=ctx.occurred_at.isoformat(), expires_at=p.expires_at))


def visit_closed(ctx: Context, p: s.VisitClosed) -> None:
    visit = _row(ctx.conn, m.visits, m.visits.c.visit_id, p.visit_id)
    if visit is None:
        raise Reject("unknown_visit")
    if visit.closed_at is None:
        _update(ctx.conn, m.visits, m.visits.c.visit_id, p.visit_id,
                closed_at=p.closed_at, how=p.how)


def day_closed(ctx: Context, p: s.DayClosed) -> None:
    """The end-of-day report is kept in the event log; nothing else changes."""


HANDLERS: dict[str, Callable[[Context, Any], None]] = {
    ev.READER_REGISTERED: reader_registered,
    ev.CARD_ISSUED: card_issued,
    ev.CARD_RENEWED: card_renewed,
    ev.CARD_BLOCKED: card_blocked,
    ev.CARD_REPLACED: card_replaced,
    ev.CARD_CANCELLED: card_cancelled,
    ev.FEE_ASSESSED: fee_assessed,
    ev.FEE_WAIVED: fee_waived,
    ev.PAYMENT_RECORDED: payment_recorded,
    ev.DEPOSIT_REFUNDED: deposit_refunded,
    ev.LOAN_RETURNED: loan_returned,
    ev.VISIT_OPENED: visit_opened,
    ev.VISIT_CLOSED: visit_closed,
    ev.DAY_CLOSED: day_closed,
}


def _validation_reason(err: PydanticError) -> str:
    first = err.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ())) or "payload"
    return f"invalid_payload: {where}: {first.get('msg', 'invalid')}"[:300]


@contextlib.contextmanager
def _savepoint(conn: Connection) -> Iterator[None]:
    """A plain SQL savepoint per event (SQLAlchemy's named ones cost a compile each)."""
    conn.exec_driver_sql("SAVEPOINT event")
    try:
        yield
    except BaseException:
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT event")
        conn.exec_driver_sql("RELEASE SAVEPOINT event")
        raise
    conn.exec_driver_sql("RELEASE SAVEPOINT event")


class KioskGone(Exception):
    """The kiosk was revoked or never enrolled."""


class _Redo(Exception):
    """An event failed while the batch ran without per-event savepoints: run it again with."""


def _apply(conn: Connection, *, kiosk_id: str, envelopes: list[s.EventEnvelope], now: str,
           schedule: FeeSchedule, next_seq: int, seen: dict[str, Any], present: set[int],
           guarded: bool) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]],
                                   dict[str, set[str]], int]:
    """Run the batch's events; returns (results by event id, event rows, touched, next seq).

    ``guarded``: a savepoint around each event, so a refused one leaves no trace. Unguarded, the
    first handler that raises stops the batch with ``_Redo`` (the caller rolls back and reruns
    it guarded): most batches have no refusal and save two statements per event.
    """
    by_id: dict[str, dict[str, Any]] = {}
    touched: dict[str, set[str]] = {}
    rows: list[dict[str, Any]] = []
    order = sorted(envelopes, key=lambda e: (-e.priority if e.kind in ev.PRIORITY_KINDS
                                             else 0, e.seq))
    deferred: list[s.EventEnvelope] = []
    queue = [(False, e) for e in order]
    position = 0
    while True:
        if position >= len(queue):
            if not deferred:
                break
            queue += [(True, d) for d in deferred]  # a second chance, after the rest
            deferred = []
        final, env = queue[position]
        position += 1
        eid = str(env.event_id)
        if eid in by_id:
            continue
        if eid in seen:
            prior = seen[eid]
            if prior.kiosk_id != kiosk_id:
                by_id[eid] = {"event_id": eid, "status": "rejected",
                              "detail": "event_id_taken"}
            else:
                by_id[eid] = {"event_id": eid, "status": "duplicate",
                              "detail": f"already {prior.status}"}
            continue
        early_priority = env.kind in ev.PRIORITY_KINDS and env.priority == 1
        if env.seq < next_seq or env.seq in present:
            by_id[eid] = {"event_id": eid, "status": "rejected", "detail": "seq_reused"}
            continue
        if env.seq > next_seq and not early_priority:
            by_id[eid] = {"event_id": eid, "status": "rejected",
                          "detail": f"gap: expected seq {next_seq}"}
            continue
        ctx = Context(conn, kiosk_id, eid, env.occurred_at, now, schedule, touched)
        try:
            payload = s.PAYLOADS[env.kind].model_validate(env.payload)
            if guarded:
                with _savepoint(conn):
                    HANDLERS[env.kind](ctx, payload)
            else:
                try:
                    HANDLERS[env.kind](ctx, payload)
                except Exception as err:
                    if is_transient(err):
                        raise  # the whole transaction is retried (push)
                    raise _Redo(eid) from err
        except PydanticError as err:
            ctx.outcome = Outcome("rejected", None, _validation_reason(err))
        except Reject as rej:
            ctx.outcome = Outcome("rejected", None, rej.reason)
        out = ctx.outcome
        if env.seq > next_seq and out.status == "rejected":
            # a block ahead of order that needs earlier events: try again after the rest
            # of the batch; if still too early, the kiosk resends it later
            if not final:
                deferred.append(env)
                continue
            by_id[eid] = {"event_id": eid, "status": "rejected",
                          "detail": f"gap: {out.detail}; resend in order"}
            continue
        rows.append({
            "event_id": eid, "kiosk_id": kiosk_id, "seq": env.seq, "kind": env.kind,
            "occurred_at": env.occurred_at.isoformat(), "occurred_day": local_day(env.occurred_at),
            "received_at": now, "status": out.status, "rule": out.rule,
            "detail": (out.detail or "")[:300] or None,
            "payload": json.dumps(env.payload, ensure_ascii=True, sort_keys=True)})
        present.add(env.seq)
        while next_seq in present:
            next_seq += 1
        result = {"event_id": eid, "status": out.status}
        if out.detail:
            result["detail"] = out.detail
        if out.rule:
            result["rule"] = out.rule
        by_id[eid] = result
    return by_id, rows, touched, next_seq


# PostgreSQL serialization_failure, deadlock_detected, lock_not_available: the transaction lost
# a race with another one and may simply run again.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
PUSH_ATTEMPTS = 4
RETRY_AFTER_S = 1


class Busy(Exception):
    """The batch lost a race with concurrent batches ``PUSH_ATTEMPTS`` times: answer 503 with
    ``Retry-After: retry_after`` (the kiosk client retries)."""

    def __init__(self, retry_after: int = RETRY_AFTER_S) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


def is_transient(err: BaseException) -> bool:
    """A deadlock or serialization failure (PostgreSQL), or a locked SQLite database."""
    if not isinstance(err, DBAPIError):
        return False
    state = getattr(err.orig, "sqlstate", None)
    if state in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(err.orig)


PushPause = Callable[[str, list[s.EventEnvelope]], None]
"""Called inside a push transaction, every write done, just before COMMIT: (kiosk id, batch).
Test drills only (``tests/support/paused_server.py`` passes one); production never does."""


def push(db: Database, *, kiosk_id: str, envelopes: list[s.EventEnvelope],
         schedule: FeeSchedule, clock: Clock,
         sleep: Callable[[float], None] = time.sleep,
         pause: PushPause | None = None) -> tuple[list[dict[str, Any]], int]:
    """Apply one batch from one kiosk. Returns (results in the order given, next expected seq).

    A deadlock or serialization failure against a concurrent batch rolls the whole batch back
    and runs it again (up to ``PUSH_ATTEMPTS`` times, with a short jittered pause); after that
    it raises Busy (the API answers 503 with Retry-After). ``pause`` (tests only) runs inside
    the transaction before it commits.
    """
    for attempt in range(PUSH_ATTEMPTS):
        try:
            return _push_once(db, kiosk_id=kiosk_id, envelopes=envelopes, schedule=schedule,
                              clock=clock, pause=pause)
        except DBAPIError as err:
            if not is_transient(err):
                raise
            log.warning("batch of %d from %s lost a race (%s); attempt %d of %d", len(envelopes),
                        kiosk_id, getattr(err.orig, "sqlstate", "locked"), attempt + 1,
                        PUSH_ATTEMPTS)
            if attempt + 1 < PUSH_ATTEMPTS:
                sleep(0.02 * (1 << attempt) * (0.5 + random.random()))  # noqa: S311 - jitter
    raise Busy()


def _push_once(db: Database, *, kiosk_id: str, envelopes: list[s.EventEnvelope],
               schedule: FeeSchedule, clock: Clock,
               pause: PushPause | None = None) -> tuple[list[dict[str, Any]], int]:
    """One attempt at a batch, in one transaction.

    Lock order: the kiosk's own row first (so one kiosk's batches apply one at a time), the
    change counter only in ``publish`` at the end: batches of different kiosks run their
    events concurrently on PostgreSQL and serialise only while publishing their changes.
    """
    now = clock.now().isoformat()
    with db.write() as conn:
        kiosk = conn.execute(_KIOSK if db.is_sqlite else _KIOSK_FOR_UPDATE,
                             {"kiosk_id": kiosk_id}).first()
        if kiosk is None or kiosk.revoked_at:
            raise KioskGone(kiosk_id)
        next_seq = int(kiosk.next_seq)
        ids = [str(e.event_id) for e in envelopes]
        seen = {r.event_id: r for r in conn.execute(_SEEN, {"ids": ids})} if ids else {}
        present = {int(r[0]) for r in conn.execute(
            _PRESENT, {"kiosk_id": kiosk_id, "next_seq": next_seq})}
        args: dict[str, Any] = dict(kiosk_id=kiosk_id, envelopes=envelopes, now=now,
                                    schedule=schedule, next_seq=next_seq, seen=seen)
        conn.exec_driver_sql("SAVEPOINT batch")
        try:
            by_id, rows, touched, next_seq = _apply(conn, present=set(present), guarded=False,
                                                    **args)
        except _Redo as redo:
            log.debug("event %s refused; batch of %d rerun with savepoints", redo,
                      len(envelopes))
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT batch")
            by_id, rows, touched, next_seq = _apply(conn, present=set(present), guarded=True,
                                                    **args)
        conn.exec_driver_sql("RELEASE SAVEPOINT batch")
        if rows:
            conn.execute(_INSERT_EVENTS, rows)
        conn.execute(_KIOSK_DONE, {"_key": kiosk_id, "next_seq": next_seq, "last_push_at": now})
        publish(conn, touched)
        if pause is not None:
            pause(kiosk_id, envelopes)
    return [by_id[str(e.event_id)] for e in envelopes], next_seq


def event_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(m.events.c.status, func.count()).group_by(m.events.c.status))
    return {r[0]: int(r[1]) for r in rows}

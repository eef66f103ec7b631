"""One event's context while its handler runs: connection, ids, times, touched rows, outcome."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from library_core.clock import CHINA_TZ
from library_core.fees import FeeSchedule
from library_core.rules import StaffRecord, occurred_at_refusal, staff_refusal
from record_server import models as m
from record_server.ingest.staff_proof import proof_refusal
from record_server.ingest.statements import (
    ADD_CREDIT,
    by_key,
    insert_into,
    update_by_key,
)

log = logging.getLogger(__name__)


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
    envelope: Any = None  # the pushed EventEnvelope: its staff_proof (ingest.staff_proof)
    # a card event an older kiosk sent before its fees: the fee ids (by kind) of its own
    # transaction it may count, applied in this batch (ingest.legacy_order)
    legacy_fees: Mapping[str, str] | None = None

    @property
    def server_now(self) -> dt.datetime:
        """The server's clock when the batch began (``now``) as a datetime."""
        return dt.datetime.fromisoformat(self.now)

    @property
    def day(self) -> dt.date:
        """The local (China) day the event claims to have happened on."""
        return self.occurred_at.astimezone(CHINA_TZ).date()

    def touch(self, entity: str, entity_id: str) -> None:
        self.touched.setdefault(entity, set()).add(entity_id)

    def conflict(self, rule: str, entity: str, entity_id: str, decision: str,
                 **detail: Any) -> None:
        insert_into(self.conn, m.conflicts, dict(
            rule=rule, kiosk_id=self.kiosk_id, event_id=self.event_id, entity=entity,
            entity_id=entity_id, decision=decision,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
            created_at=self.now, resolved=False))
        self.outcome = Outcome("conflict", rule, decision)
        log.info("conflict %s on %s %s (event %s)", rule, entity, entity_id, self.event_id)

    def credit(self, reader_id: str, amount: int, rule: str) -> None:
        if amount <= 0:
            return
        self.conn.execute(ADD_CREDIT, {"_key": reader_id, "amount": amount})
        insert_into(self.conn, m.credit_entries, dict(
            reader_id=reader_id, amount=amount, rule=rule, event_id=self.event_id,
            created_at=self.now))
        self.touch("reader", reader_id)


def local_day(when: dt.datetime) -> str:
    return when.astimezone(CHINA_TZ).date().isoformat()


def resolve_reader(ctx: Context, reader_id: str) -> str:
    """The reader an id stands for (following merges). Raises Reject(unknown_reader)."""
    for _ in range(5):
        row = by_key(ctx.conn, m.readers, m.readers.c.reader_id, reader_id)  # batch's cache
        if row is None:
            raise Reject("unknown_reader")
        if not row.merged_into:
            return str(row.reader_id)
        reader_id = row.merged_into
    raise Reject("unknown_reader")


def card_or_reject(ctx: Context, card_no: str) -> Any:
    row = by_key(ctx.conn, m.cards, m.cards.c.card_no, card_no)
    if row is None:
        raise Reject("unknown_card")
    return row


def set_card(ctx: Context, card_no: str, **values: Any) -> None:
    update_by_key(ctx.conn, m.cards, m.cards.c.card_no, card_no, **values)
    ctx.touch("card", card_no)




def check_occurred_at(ctx: Context) -> None:
    """Raises Reject(occurred_in_future) for an event dated far ahead of the server's clock."""
    reason = occurred_at_refusal(ctx.occurred_at, ctx.server_now)
    if reason is not None:
        raise Reject(reason)


def staff_or_reject(ctx: Context, staff_no: str | None, action: str) -> str:
    """The staff number of an existing, active, unlocked member of staff whose role may do
    ``action`` (``library_core.rules.staff_refusal``). Raises Reject(staff_required) when none is
    named, Reject(<the staff proof's or the rule's reason>) otherwise."""
    if not staff_no:
        raise Reject("staff_required")
    refused = proof_refusal(ctx, staff_no)  # the staff proof first (docs/security.md 5.2)
    if refused is not None:
        raise Reject(refused)
    row = by_key(ctx.conn, m.staff, m.staff.c.staff_no, staff_no)
    record = None if row is None else StaffRecord(
        row.staff_no, row.role, bool(row.active), bool(row.locked),
        dt.datetime.fromisoformat(row.locked_until) if row.locked_until else None)
    reason = staff_refusal(record, action, ctx.server_now)
    if reason is not None:
        raise Reject(reason)
    return staff_no


def card_of_reader(ctx: Context, card: Any, reader_id: str) -> str:
    """The (resolved) reader a card belongs to, when ``reader_id`` names that reader (following
    merges). Raises Reject(card_not_of_reader) or Reject(unknown_reader)."""
    resolved = resolve_reader(ctx, reader_id)
    if resolved == card.reader_id:
        return resolved
    if resolve_reader(ctx, str(card.reader_id)) != resolved:
        raise Reject("card_not_of_reader")
    return resolved

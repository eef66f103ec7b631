"""Handlers for card events: issued, renewed, blocked, replaced, cancelled."""

from __future__ import annotations

from library_core import contract as c
from library_core.errors import ValidationError
from library_core.rules import blocked_status, renewal_fee
from record_server import models as m
from record_server.ingest.context import (
    Context,
    Reject,
    card_or_reject,
    resolve_reader,
    set_card,
)
from record_server.ingest.numbering import check_card_no
from record_server.ingest.rules import RULE_BLOCK_BEATS_RENEWAL
from record_server.ingest.statements import by_key, insert_into


def card_issued(ctx: Context, p: c.CardIssued) -> None:
    check_card_no(ctx, p.card_no)
    reader_id = resolve_reader(ctx, p.reader_id)
    if by_key(ctx.conn, m.cards, m.cards.c.card_no, p.card_no) is not None:
        raise Reject("card_exists")
    insert_into(ctx.conn, m.cards, dict(
        card_no=p.card_no, reader_id=reader_id, uid=str(p.uid).upper(), generation=p.generation,
        status="active", issued_at=ctx.occurred_at.isoformat(), expires_on=p.expires_on))
    ctx.touch("card", p.card_no)


def card_renewed(ctx: Context, p: c.CardRenewed) -> None:
    try:  # the kiosk's rule: only an offered period, its fee (library_core.rules)
        fee = renewal_fee(ctx.schedule, p.months)
    except ValidationError:
        raise Reject("renewal_period_not_offered") from None
    card = card_or_reject(ctx, p.card_no)
    if card.status != "active":
        ctx.credit(card.reader_id, fee, RULE_BLOCK_BEATS_RENEWAL)
        ctx.conflict(RULE_BLOCK_BEATS_RENEWAL, "card", p.card_no,
                     f"card stays {card.status}; renewal not applied; {fee} fen credited",
                     card_status=card.status, renewal_expires_on=p.expires_on, credited=fee,
                     reader_id=card.reader_id)
        return
    if p.expires_on > card.expires_on:
        set_card(ctx, p.card_no, expires_on=p.expires_on)


def card_blocked(ctx: Context, p: c.CardBlocked) -> None:
    card = card_or_reject(ctx, p.card_no)
    status = blocked_status(card.status, p.reason)  # the kiosk's rule (library_core.rules)
    if status is not None:
        set_card(ctx, p.card_no, status=status)


def card_replaced(ctx: Context, p: c.CardReplaced) -> None:
    check_card_no(ctx, p.card_no)
    old = card_or_reject(ctx, p.old_card_no)
    reader_id = resolve_reader(ctx, p.reader_id)
    if by_key(ctx.conn, m.cards, m.cards.c.card_no, p.card_no) is not None:
        raise Reject("card_exists")
    if p.generation <= old.generation:
        raise Reject("generation_not_higher")
    if old.status in ("active", "lost"):
        set_card(ctx, p.old_card_no, status="replaced")
    insert_into(ctx.conn, m.cards, dict(
        card_no=p.card_no, reader_id=reader_id, uid=str(p.uid).upper(), generation=p.generation,
        status="active", issued_at=ctx.occurred_at.isoformat(), expires_on=p.expires_on))
    ctx.touch("card", p.card_no)


def card_cancelled(ctx: Context, p: c.CardCancelled) -> None:
    card = card_or_reject(ctx, p.card_no)
    if card.status != "cancelled":
        set_card(ctx, p.card_no, status="cancelled")


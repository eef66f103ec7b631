"""Handlers for card events: issued, renewed, blocked, replaced, cancelled.

Each claim is re-checked against the server's records with the kiosk's own rules
(``library_core.rules``): a card belongs to the reader the event names, a new card's expiry is
the schedule's, a replacement is the next generation of a live card of the same reader, a
renewal is the schedule's period and expiry and its fee is paid or waived, a new card's deposit
and card fee and a replacement's fee (the schedule's, under ``rules.card_fee_id``) are paid or
waived before the card is made, a cancellation is a supervisor's, and the deposit it says was
refunded is at most the deposit held, with the reader's cards cancelled (``payments``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from library_core import contract as c
from library_core.errors import ValidationError
from library_core.fees import FeeKind
from library_core.rules import (
    ACTION_CANCEL,
    ACTION_DESK,
    ACTION_REFUND,
    CARD_CANCELLED,
    CARD_REPLACED,
    LIVE_CARD_STATUSES,
    blocked_status,
    card_fee_id,
    new_card_expiry,
    next_generation,
    renewal_fee_id,
    renewal_terms,
)
from record_server import models as m
from record_server.grants import grant_refusal
from record_server.ingest.context import (
    Context,
    Reject,
    card_of_reader,
    card_or_reject,
    resolve_reader,
    set_card,
    staff_or_reject,
)
from record_server.ingest.numbering import check_card_no
from record_server.ingest.payments import refuse_deposit_refund
from record_server.ingest.rules import RULE_BLOCK_BEATS_RENEWAL
from record_server.ingest.statements import by_key, insert_into

_FIRST_CARD = 1


def _expiry_within(ctx: Context, expires_on: str) -> None:
    """A card may be valid at most ``card_validity_months`` from the day of the event."""
    if dt.date.fromisoformat(expires_on) > new_card_expiry(ctx.schedule, ctx.day):
        raise Reject("expiry_beyond_schedule")


def card_issued(ctx: Context, p: c.CardIssued) -> None:
    check_card_no(ctx, p.card_no)
    reader_id = resolve_reader(ctx, p.reader_id)
    if by_key(ctx.conn, m.cards, m.cards.c.card_no, p.card_no) is not None:
        raise Reject("card_exists")
    if p.generation != _FIRST_CARD:
        raise Reject("generation_not_first")
    _expiry_within(ctx, p.expires_on)
    if reader_id == p.reader_id and by_key(ctx.conn, m.cards, m.cards.c.reader_id,
                                           reader_id) is not None:
        raise Reject("reader_has_card")  # a second card is a replacement, not an issue
    reader = by_key(ctx.conn, m.readers, m.readers.c.reader_id, reader_id)
    fees = ctx.schedule.for_category(reader.category)  # the schedule in force on its day
    _card_fees_paid(ctx, reader_id, p.card_no, (
        (FeeKind.DEPOSIT, fees.deposit, "deposit_not_paid"),
        (FeeKind.CARD, fees.card_fee, "card_fee_not_paid")))
    insert_into(ctx.conn, m.cards, dict(
        card_no=p.card_no, reader_id=reader_id, uid=str(p.uid).upper(), generation=p.generation,
        status="active", issued_at=ctx.occurred_at.isoformat(), expires_on=p.expires_on))
    ctx.touch("card", p.card_no)


def _fee_paid(ctx: Context, reader_id: str, fee_id: str, kind: str, amount: int,
              reason: str) -> Any:
    """The fee that pays for a renewal or a card: the reader's fee of ``kind`` and the
    schedule's amount under ``fee_id``, paid or waived (by staff with proof: ``fee_waived``).
    Raises Reject(reason). One lookup by key (the batch's cache holds the fee it just wrote)."""
    fee = by_key(ctx.conn, m.fees, m.fees.c.fee_id, fee_id)
    if (fee is None or fee.kind != kind or fee.amount != amount
            or fee.status not in ("paid", "waived")
            or (fee.reader_id != reader_id and resolve_reader(ctx, fee.reader_id) != reader_id)):
        raise Reject(reason)
    return fee


def _renewal_fee(ctx: Context, reader_id: str, fee_id: str, amount: int) -> Any:
    """The fee that pays for this renewal. Raises Reject(renewal_not_paid)."""
    return _fee_paid(ctx, reader_id, fee_id, "renewal", amount, "renewal_not_paid")


def _card_fees_paid(ctx: Context, reader_id: str, card_no: str,
                    due: tuple[tuple[str, int, str], ...]) -> None:
    """Each fee the schedule asks for this card (kind, amount, refusal; none for 0) was
    assessed under ``card_fee_id`` and is paid or waived. The kiosk sends them before the
    card's event (``kiosk/services/cards``), in the same push or an earlier one; an older
    kiosk sent them after it, under other ids, in its transaction (``ctx.legacy_fees``:
    ``ingest.legacy_order``), checked the same way."""
    legacy = ctx.legacy_fees or {}
    for kind, amount, reason in due:
        if amount > 0:
            fee_id = card_fee_id(ctx.kiosk_id, card_no, kind)
            if kind in legacy and by_key(ctx.conn, m.fees, m.fees.c.fee_id, fee_id) is None:
                fee_id = legacy[kind]
            _fee_paid(ctx, reader_id, fee_id, kind, amount, reason)


def card_renewed(ctx: Context, p: c.CardRenewed) -> None:
    try:  # the kiosk's rule: only an offered period, its fee (library_core.rules)
        terms = renewal_terms(ctx.schedule, p.months,
                              expires_on=dt.date.fromisoformat(p.previous_expires_on),
                              today=ctx.day)
    except ValidationError:
        raise Reject("renewal_period_not_offered") from None
    card = card_or_reject(ctx, p.card_no)
    reader_id = card_of_reader(ctx, card, p.reader_id)
    if p.previous_expires_on > card.expires_on:
        raise Reject("renewal_previous_expiry_mismatch")
    if terms.expires_on.isoformat() != p.expires_on:
        raise Reject("renewal_expiry_not_schedule")
    fee = terms.fee
    if fee:
        row = _renewal_fee(ctx, reader_id, renewal_fee_id(ctx.kiosk_id, p.card_no,
                                                          terms.expires_on), fee)
        fee = int(row.paid)  # what was paid (a waived fee credits nothing)
    if card.status != "active":
        ctx.credit(card.reader_id, fee, RULE_BLOCK_BEATS_RENEWAL)
        ctx.conflict(RULE_BLOCK_BEATS_RENEWAL, "card", p.card_no,
                     f"card stays {card.status}; renewal not applied; {fee} fen credited",
                     card_status=card.status, renewal_expires_on=p.expires_on, credited=fee,
                     reader_id=card.reader_id)
        return
    if p.expires_on > card.expires_on:
        set_card(ctx, p.card_no, expires_on=p.expires_on)


def _reader_present(ctx: Context, grant: str | None, reader_id: str, card_reader_id: str) -> None:
    """The reader proved themselves at this kiosk (ID number + PIN checked by this server):
    Reject(reader_grant_missing | reader_grant_unknown | reader_grant_expired) otherwise."""
    reason = grant_refusal(ctx.conn, grant, kiosk_id=ctx.kiosk_id,
                           reader_ids={reader_id, card_reader_id}, occurred_at=ctx.occurred_at)
    if reason is not None:
        raise Reject(reason)


def card_blocked(ctx: Context, p: c.CardBlocked) -> None:
    card = card_or_reject(ctx, p.card_no)
    card_of_reader(ctx, card, p.reader_id)
    if p.reason == CARD_CANCELLED:
        staff_or_reject(ctx, p.staff_no, ACTION_CANCEL)
    elif p.staff_no:
        staff_or_reject(ctx, p.staff_no, ACTION_DESK)
    else:  # a kiosk token alone blocks no one's card
        _reader_present(ctx, p.reader_grant, p.reader_id, card.reader_id)
    status = blocked_status(card.status, p.reason)  # the kiosk's rule (library_core.rules)
    if status is not None:
        set_card(ctx, p.card_no, status=status)


def card_replaced(ctx: Context, p: c.CardReplaced) -> None:
    check_card_no(ctx, p.card_no)
    old = card_or_reject(ctx, p.old_card_no)
    reader_id = card_of_reader(ctx, old, p.reader_id)
    _reader_present(ctx, p.reader_grant, p.reader_id, old.reader_id)
    if by_key(ctx.conn, m.cards, m.cards.c.card_no, p.card_no) is not None:
        raise Reject("card_exists")
    if p.generation <= old.generation:
        raise Reject("generation_not_higher")
    if p.generation != next_generation(old.generation):
        raise Reject("generation_not_next")
    if old.status not in LIVE_CARD_STATUSES:
        raise Reject("card_already_replaced" if old.status == CARD_REPLACED
                     else "card_cancelled")
    if p.expires_on > old.expires_on:
        raise Reject("replacement_extends_expiry")  # the fee buys a card, not time
    _card_fees_paid(ctx, reader_id, p.card_no, (
        (FeeKind.REPLACEMENT, ctx.schedule.replacement_fee, "replacement_not_paid"),))
    set_card(ctx, p.old_card_no, status=CARD_REPLACED)
    insert_into(ctx.conn, m.cards, dict(
        card_no=p.card_no, reader_id=reader_id, uid=str(p.uid).upper(), generation=p.generation,
        status="active", issued_at=ctx.occurred_at.isoformat(), expires_on=p.expires_on))
    ctx.touch("card", p.card_no)


def card_cancelled(ctx: Context, p: c.CardCancelled) -> None:
    card = card_or_reject(ctx, p.card_no)
    reader_id = card_of_reader(ctx, card, p.reader_id)
    staff_or_reject(ctx, p.staff_no, ACTION_CANCEL)
    if p.deposit_refunded:  # a supervisor's, with proof; the deposit held, the cards cancelled
        staff_or_reject(ctx, p.staff_no, ACTION_REFUND)
        refuse_deposit_refund(ctx, reader_id, p.deposit_refunded, cancelling=p.card_no)
    if card.status != CARD_CANCELLED:
        set_card(ctx, p.card_no, status=CARD_CANCELLED)

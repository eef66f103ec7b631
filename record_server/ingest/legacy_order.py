"""Card events an older kiosk build queued before their fees: accepted in the honest old order
within one batch, never without the fees paid (the upgrade hazard of issue 11.1's card fees).

Before the server checked a card's fees (commit 5d9a584), the kiosk's new-card transaction
emitted ``reader.registered``, ``card.issued``, (``receipt.issued``,) one ``fee.assessed`` per
fee (deposit, card fee) under a random id, then the ``payment.recorded`` that pays them; a
replacement ``card.replaced``, its fee, its payment. Today's kiosk assesses and pays a card's
fees first, under ``rules.card_fee_id`` (which names the card), and the server makes the card
only once they are paid. Events such a kiosk queued before its upgrade would be refused
``deposit_not_paid``. So, for a batch:

- ``reorder``: a card event followed, in the same kiosk transaction (the next sequence numbers,
  the same time), by ``fee.assessed`` of that reader of the kinds the card costs under ids not
  of the new form, and then by the ``payment.recorded`` that allocates to each of them, is run
  right after that payment (its sequence number held meanwhile, so the events between are not
  a gap). Only events the batch carries once, by id and by sequence number;
- ``legacy_fees``: when the card event then runs, the fees it may count are those of its own
  transaction whose ``fee.assessed`` was applied in this batch (so new: ``fee_exists`` refuses
  an old id) -- each given to one card only. The card handler checks them exactly as it checks
  a fee under ``card_fee_id`` (the reader's, the schedule's amount, paid or waived:
  ``ingest.cards``). A liar gains nothing: the fees must be assessed and paid in that batch, and
  a fee counted for one card is counted for no other (in this batch by ``reorder``, in a later
  one because its ``fee.assessed`` can never be applied again);
- ``resend_later``: the old transaction cut by a batch boundary (the kiosk sends 100 events at
  a time) leaves its card event, and maybe some of its fees, at the batch's end with the
  payment still to come. Refused for want of them, with no fee of the new form assessed, and
  not the first of the batch, it is answered as a gap (not kept; its fees after it then are
  gaps too): the kiosk sends it again first in its next batch, with the rest of its
  transaction. The first event of a batch always gets a final answer, so nothing waits twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from library_core import contract as c
from library_core import events as ev
from library_core.fees import FeeKind
from library_core.rules import card_fee_id
from record_server import models as m
from record_server.ingest.statements import by_key

CARD_FEES: dict[str, tuple[str, ...]] = {
    ev.CARD_ISSUED: (str(FeeKind.DEPOSIT), str(FeeKind.CARD)),
    ev.CARD_REPLACED: (str(FeeKind.REPLACEMENT),)}
FEES_NOT_PAID = frozenset({"deposit_not_paid", "card_fee_not_paid", "replacement_not_paid"})
_BETWEEN = frozenset({ev.FEE_ASSESSED, ev.RECEIPT_ISSUED})  # what the old transaction held


@dataclass(frozen=True, slots=True)
class HeldCard:
    """A card event run after its fees: each fee kind's (fee id, its fee.assessed's event id)."""

    fees: Mapping[str, tuple[str, str]]


OPEN = -1  # the scan reached the batch's end inside the card's transaction


def _scan(kiosk_id: str, order: list[c.EventEnvelope], at: int,
          taken: set[str]) -> tuple[int, dict[str, tuple[str, str]]] | None:
    """When the events after ``order[at]`` (a card event) open with the old form of its fees:
    (the index in ``order`` of their payment, or ``OPEN`` when the batch ends first, the fees
    so far). None otherwise."""
    card = order[at]
    payload = card.payload
    reader_id, card_no = payload.get("reader_id"), payload.get("card_no")
    if not isinstance(reader_id, str) or not isinstance(card_no, str):
        return None
    kinds = CARD_FEES[card.kind]
    fees: dict[str, tuple[str, str]] = {}
    seq = card.seq
    for index in range(at + 1, len(order)):
        env = order[index]
        if env.seq != seq + 1 or env.occurred_at != card.occurred_at:
            return None  # another transaction
        seq = env.seq
        if env.kind == ev.PAYMENT_RECORDED:
            allocations = env.payload.get("allocations")
            allocated = {a.get("fee_id") for a in allocations if isinstance(a, dict)} \
                if isinstance(allocations, list) else set()
            if fees and all(fee_id in allocated for fee_id, _ in fees.values()):
                return index, fees
            return None
        if env.kind not in _BETWEEN:
            return None
        if env.kind == ev.FEE_ASSESSED:
            fee = env.payload
            kind, fee_id = fee.get("kind"), fee.get("fee_id")
            if (fee.get("reader_id") != reader_id or kind not in kinds or kind in fees
                    or not isinstance(fee_id, str) or fee_id in taken
                    or fee_id == card_fee_id(kiosk_id, card_no, str(kind))):
                return None  # not this card's old-form fee (the new form needs no moving)
            fees[str(kind)] = (fee_id, str(env.event_id))
    return OPEN, fees


def reorder(order: list[c.EventEnvelope], kiosk_id: str,
            movable: Callable[[c.EventEnvelope], bool],
            ) -> tuple[list[c.EventEnvelope], dict[str, HeldCard]]:
    """``order`` with each old-form card event right after its fees' payment, and those card
    events by event id (see the module doc). ``order`` itself when there is none."""
    after_payment: dict[int, list[c.EventEnvelope]] = {}
    held: dict[str, HeldCard] = {}
    taken: set[str] = set()
    once: tuple[Counter[str], Counter[int]] | None = None
    for i, env in enumerate(order):
        if env.kind not in CARD_FEES:
            continue
        found = _scan(kiosk_id, order, i, taken)  # today's kiosk: None at once
        if found is None or found[0] == OPEN or not movable(env):
            continue
        if once is None:
            once = (Counter(str(e.event_id) for e in order), Counter(e.seq for e in order))
        eid = str(env.event_id)
        if once[0][eid] != 1 or once[1][env.seq] != 1:
            continue
        payment, fees = found
        after_payment.setdefault(payment, []).append(env)
        held[eid] = HeldCard(fees)
        taken.update(fee_id for fee_id, _ in fees.values())
    if not held:
        return order, {}
    out: list[c.EventEnvelope] = []
    for i, env in enumerate(order):
        if str(env.event_id) not in held:
            out.append(env)
        out.extend(after_payment.get(i, ()))
    return out, held


def waits_only_for_held(next_seq: int, seq: int, held_seqs: set[int],
                        present: set[int]) -> bool:
    """Whether every sequence number from ``next_seq`` up to ``seq`` is a held card event's
    (still to run in this batch) or already present: then ``seq`` is in order."""
    return all(q in held_seqs or q in present for q in range(next_seq, seq))


def legacy_fees(held: HeldCard, results: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The fee ids (by kind) the held card event may count: those whose ``fee.assessed`` this
    batch applied."""
    return {kind: fee_id for kind, (fee_id, event_id) in held.fees.items()
            if results.get(event_id, {}).get("status") == "applied"}


def resend_later(conn: Connection, kiosk_id: str, env: c.EventEnvelope, reason: str | None,
                 order: list[c.EventEnvelope]) -> bool:
    """Whether ``env``, refused ``reason``, is an old transaction's card event cut from its
    fees by the batch's end (see the module doc): answered as a gap, not kept (and so the
    events of its transaction after it are gaps too)."""
    if env.kind not in CARD_FEES or reason not in FEES_NOT_PAID:
        return False
    if not any(e.seq < env.seq for e in order):
        return False  # first of its batch: the final answer
    at = next((i for i, e in enumerate(order) if e is env), None)
    if at is None:
        return False
    found = _scan(kiosk_id, order, at, set())
    if found is None or found[0] != OPEN:
        return False
    card_no = str(env.payload.get("card_no"))
    return all(by_key(conn, m.fees, m.fees.c.fee_id, card_fee_id(kiosk_id, card_no, kind))
               is None for kind in CARD_FEES[env.kind])

"""Apply pushed kiosk events: exactly once, in order per kiosk, with the kiosk's business rules.

One database transaction per batch (one commit, one fsync; the change counter row is locked
while the batch publishes its changes, so pulls see changes in order). The batch runs first
without per-event savepoints; if any event is refused it is rolled back and run again with a
savepoint per event, so a failing event is answered ``rejected`` without undoing the others.
Idempotency: ``events.event_id`` is the primary key and ``(kiosk_id, seq)`` is unique. A ``seq``
above the next expected one is answered ``rejected`` with detail ``gap`` and is not stored, so
the kiosk resends in order; priority events (card blocks) are applied ahead of order and their
``seq`` is skipped later.

This module is the entry point; the work is split by job in ``record_server.ingest`` (rules per
event kind, ordering and sequencing, transactions and retries).

Conflict rules (named, recorded in ``conflicts``, answered with ``rule``):
"""

from __future__ import annotations

from record_server.ingest.push import KioskGone, PushPause, push
from record_server.ingest.retry import PUSH_ATTEMPTS, Busy, is_transient
from record_server.ingest.rules import (
    RULE_BLOCK_BEATS_RENEWAL,
    RULE_DOUBLE_PAYMENT,
    RULE_RETURN_AFTER_RENEWAL,
    RULE_RETURNED_TWICE,
    RULE_SAME_ID_NUMBER,
    RULES,
)

__all__ = [
    "PUSH_ATTEMPTS", "RULES", "RULE_BLOCK_BEATS_RENEWAL", "RULE_DOUBLE_PAYMENT",
    "RULE_RETURNED_TWICE", "RULE_RETURN_AFTER_RENEWAL", "RULE_SAME_ID_NUMBER", "Busy",
    "KioskGone", "PushPause", "is_transient", "push",
]
__doc__ = (__doc__ or "") + "\n".join(f"- ``{k}``: {v}" for k, v in RULES.items())

"""Staff authority rules shared by kiosk and record server (issue 11.2, 11.3; docs/security.md
5.2-5.4): what a staff proof must satisfy, and what staff may do while the kiosk is offline.

Plain rules over plain values: the kiosk refuses an offline action before it is made, the
server refuses one that arrives anyway, with the same reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from library_core import events as ev
from library_core.errors import DomainError
from library_core.money import format_fen

# the server's named refusals of a staff proof (docs/security.md 5.2)
PROOF_MISSING: Final = "staff_proof_missing"
SESSION_UNKNOWN: Final = "staff_session_unknown"
SESSION_OTHER_KIOSK: Final = "staff_session_other_kiosk"
PROOF_OTHER_STAFF: Final = "staff_proof_other_staff"
SESSION_EXPIRED: Final = "staff_session_expired"
PROOF_INVALID: Final = "staff_proof_invalid"
OFFLINE_NOT_ALLOWED: Final = "offline_not_allowed"
OFFLINE_LIMIT_EXCEEDED: Final = "offline_limit_exceeded"
OFFLINE_REVIEW_RULE: Final = "offline_staff_action"  # the conflict a supervisor reviews
UNPROVEN_RULE: Final = "staff_proof_missing"  # the conflict when proofs are not required

CLOCK_DRIFT: Final = dt.timedelta(minutes=5)
"""How far an event's ``occurred_at`` may lie outside its session or verifier (clock drift)."""

NEVER_OFFLINE: Final = frozenset({ev.FEE_WAIVED, ev.DEPOSIT_REFUNDED, ev.CARD_CANCELLED})
"""Waivers, refunds and cancellations need the server, whatever the configuration says."""


@dataclass(frozen=True, slots=True)
class OfflineStaffPolicy:
    """What staff may do while the record server is out of reach (``[staff.offline]``).

    Cash up to ``cash_limit_fen`` per payment and ``day_cash_limit_fen`` per kiosk and day,
    desk actions that move no money, close of day only with ``allow_close_day``. A kiosk's
    policy may only be stricter than the server's (``stricter``)."""

    enabled: bool = True
    cash_limit_fen: int = 20_000
    day_cash_limit_fen: int = 100_000
    allow_close_day: bool = False
    verifier_hours: int = 72

    def stricter(self, other: OfflineStaffPolicy) -> OfflineStaffPolicy:
        """The stricter of the two in every field."""
        return OfflineStaffPolicy(
            enabled=self.enabled and other.enabled,
            cash_limit_fen=min(self.cash_limit_fen, other.cash_limit_fen),
            day_cash_limit_fen=min(self.day_cash_limit_fen, other.day_cash_limit_fen),
            allow_close_day=self.allow_close_day and other.allow_close_day,
            verifier_hours=min(self.verifier_hours, other.verifier_hours))


OFFLINE_MONEY_KINDS: Final = frozenset({ev.PAYMENT_RECORDED, ev.ILS_FEE_PAID})
"""Events that take money: our own payments and the ILS's fines paid at the kiosk."""


def offline_amount(kind: str, payload: Mapping[str, Any]) -> int:
    """The money an offline staff event moves (counted against the offline limits)."""
    if kind in OFFLINE_MONEY_KINDS:
        return int(payload.get("amount") or 0)
    return 0


def offline_refusal(policy: OfflineStaffPolicy, kind: str, payload: Mapping[str, Any], *,
                    day_total_fen: int) -> str | None:
    """Why an event made under an offline staff log-in is refused, or None.

    ``day_total_fen``: what offline staff actions of this kiosk moved already that day.
    ``offline_not_allowed`` for waivers, refunds, cancellations (a card blocked as
    ``cancelled`` too) and, unless allowed, close of day; ``offline_limit_exceeded`` for a
    payment over the per-payment or the day's limit."""
    if not policy.enabled:
        return OFFLINE_NOT_ALLOWED
    if kind in NEVER_OFFLINE or (kind == ev.CARD_BLOCKED and payload.get("reason") == "cancelled"):
        return OFFLINE_NOT_ALLOWED
    if kind == ev.DAY_CLOSED and not policy.allow_close_day:
        return OFFLINE_NOT_ALLOWED
    amount = offline_amount(kind, payload)
    if amount > policy.cash_limit_fen or day_total_fen + amount > policy.day_cash_limit_fen:
        return OFFLINE_LIMIT_EXCEEDED
    return None


def within(when: dt.datetime, start: dt.datetime, end: dt.datetime) -> bool:
    """``when`` inside [start, end], give or take ``CLOCK_DRIFT``."""
    return start - CLOCK_DRIFT <= when <= end + CLOCK_DRIFT


class StaffSessionEnded(DomainError):
    """The staff session (or offline verifier) an action would be signed with has ended: the
    server would refuse the event (``staff_session_expired``), so the kiosk refuses it first."""

    message_id = "staff.session_ended"


class OfflineStaffRefused(DomainError):
    """An action a staff member logged in offline may not take (``reason`` is the server's
    name for it; the message names the limits)."""

    def __init__(self, reason: str, policy: OfflineStaffPolicy) -> None:
        message_id = ("staff.offline_limit" if reason == OFFLINE_LIMIT_EXCEEDED
                      else "staff.offline_not_allowed")
        super().__init__(message_id, reason, limit_text=format_fen(policy.cash_limit_fen),
                         day_limit_text=format_fen(policy.day_cash_limit_fen))
        self.reason = reason

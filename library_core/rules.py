"""House rules the kiosk and the record server both apply, each written once (pure functions).

- one active reader per ID number (``holder_of_id_number``)
- fees owed above the limit refuse a renewal or a replacement (``fees_owed_refuse``)
- the renewal's fee, offered periods and new expiry (``renewal_terms``)
- what a block does to a card (``blocked_status``) and which cards may be used (``card_refusal``)
- the PIN lockout policy (``PinLockout``)
- the day report's metrics (``day_metrics``)

Callers fetch the records (SQLite on the kiosk, SQLAlchemy on the server) and ask these
functions for the decision; the functions never do I/O and take the time as an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from library_core.fees import FeeSchedule, add_months
from library_core.money import Fen
from library_core.pins import MAX_ATTEMPTS

# ---- one active reader per ID number ------------------------------------------------------------

READER_ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class ReaderRecord:
    """A reader registered with some ID number, as either side stores it."""

    reader_id: str
    status: str
    registered_at: str = ""
    merged_into: str | None = None
    has_live_card: bool = False  # an active or lost card (kiosk only: the server merges)


def holder_of_id_number(readers: Iterable[ReaderRecord]) -> ReaderRecord | None:
    """The reader an ID number belongs to: the first registered active reader that was not
    merged into another. None when the number is free. The kiosk refuses a second registration
    (``ReaderExists``); the server merges a later one into this reader."""
    live = [r for r in readers if r.status == READER_ACTIVE and not r.merged_into]
    return min(live, key=lambda r: (r.registered_at, r.reader_id)) if live else None


# ---- fees owed ----------------------------------------------------------------------------------

def fees_owed_refuse(owed: Fen, schedule: FeeSchedule) -> bool:
    """True when fees owed are above ``renewal_refused_above``: no renewal, no replacement,
    until they are paid (the kiosk refuses before any payment is taken)."""
    return owed > schedule.renewal_refused_above


# ---- renewal ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RenewalTerms:
    months: int
    fee: Fen
    expires_on: dt.date


def renewal_terms(schedule: FeeSchedule, months: int, *, expires_on: dt.date,
                  today: dt.date) -> RenewalTerms:
    """The fee and new expiry of renewing for ``months``: only an offered period; the fee per 12
    months (whole years, at least one); the new expiry counted from the later of the old expiry
    and today. Raises ValidationError ``renewal.period`` for a period not offered."""
    fee = schedule.renewal_fee_for(months)
    return RenewalTerms(months, fee, add_months(max(expires_on, today), months))


def renewal_fee(schedule: FeeSchedule, months: int) -> Fen:
    """The fee of renewing for ``months`` (see ``renewal_terms``). Raises ValidationError."""
    return schedule.renewal_fee_for(months)


# ---- cards --------------------------------------------------------------------------------------

CARD_ACTIVE = "active"
CARD_LOST = "lost"
CARD_CANCELLED = "cancelled"
CARD_REPLACED = "replaced"
LIVE_CARD_STATUSES = frozenset({CARD_ACTIVE, CARD_LOST})  # a card still the reader's
BLOCK_REASONS = frozenset({CARD_LOST, CARD_CANCELLED})


def blocked_status(current: str, reason: str) -> str | None:
    """The status a block for ``reason`` (``lost`` / ``cancelled``) leaves a card in, or None
    when the block changes nothing: an active card takes the reason; a lost card can still be
    cancelled; a cancelled or replaced card stays as it is. Raises ValueError for another
    reason."""
    if reason not in BLOCK_REASONS:
        raise ValueError(f"unknown block reason {reason!r}")
    if current == CARD_ACTIVE:
        return reason
    if current == CARD_LOST and reason == CARD_CANCELLED:
        return CARD_CANCELLED
    return None


def card_refusal(status: str) -> str | None:
    """Why a card with ``status`` may not be used (a message id), or None when it may."""
    if status in (CARD_LOST, CARD_REPLACED):
        return "card.lost"
    if status == CARD_CANCELLED:
        return "card.cancelled"
    return None


# ---- PIN lockout --------------------------------------------------------------------------------

PIN_LOCKOUT_MINUTES = 30


@dataclass(frozen=True, slots=True)
class PinState:
    failures: int
    locked_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class PinLockout:
    """The one PIN-lockout policy, for readers and staff, at the kiosk and at the server:
    ``max_attempts`` wrong PINs in a row lock the account for ``minutes``; a right PIN clears
    the count; a supervisor may unlock earlier (server ``unlock-staff``).

    Why a time limit and not "until unlocked" (the server's old rule): kiosks are self-service
    and often unattended, so a lock a member of staff must lift would shut a reader out for the
    day; five tries per 30 minutes still leaves a 6-digit PIN out of reach of guessing (about
    240 tries a day against a million PINs, and a weak-PIN list is refused at enrolment). One
    policy everywhere means a PIN that is locked at a kiosk is locked for the same time at the
    server's console and the staff see one rule.
    """

    max_attempts: int = MAX_ATTEMPTS
    minutes: int = PIN_LOCKOUT_MINUTES

    def locked(self, locked_until: dt.datetime | None, now: dt.datetime) -> bool:
        return locked_until is not None and locked_until > now

    def minutes_left(self, locked_until: dt.datetime, now: dt.datetime) -> int:
        return max(1, -(-int((locked_until - now).total_seconds()) // 60))

    def after_wrong(self, failures: int, now: dt.datetime) -> PinState:
        """The state after one more wrong PIN: locked (count reset) on the ``max_attempts``th."""
        failures += 1
        if failures >= self.max_attempts:
            return PinState(0, now + dt.timedelta(minutes=self.minutes))
        return PinState(failures)

    def attempts_left(self, failures: int) -> int:
        return self.max_attempts - failures


# ---- day report ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PaymentRecord:
    kind: str  # payment | refund
    method: str
    amount: Fen


@dataclass(frozen=True, slots=True)
class DayMetrics:
    """The day's money, as both the kiosk's Z-report and the server's daily report count it."""

    payments: int = 0
    taken_by_method: Mapping[str, Fen] = field(default_factory=dict)
    refunds: int = 0
    refunds_by_method: Mapping[str, Fen] = field(default_factory=dict)
    payments_by_method: Mapping[str, int] = field(default_factory=dict)  # how many, by method

    @property
    def refunded_total(self) -> Fen:
        return sum(self.refunds_by_method.values())

    @property
    def taken_total(self) -> Fen:
        return sum(self.taken_by_method.values())

    def cash_expected(self, cash: str = "cash") -> Fen:
        """Cash taken minus cash paid back: what the drawer should hold from the day."""
        return self.taken_by_method.get(cash, 0) - self.refunds_by_method.get(cash, 0)


def day_metrics(payments: Iterable[PaymentRecord]) -> DayMetrics:
    """Count and sum the day's payments and refunds by method (methods sorted)."""
    taken: dict[str, Fen] = {}
    refunded: dict[str, Fen] = {}
    counted: dict[str, int] = {}
    n_pay = n_ref = 0
    for p in payments:
        if p.kind == "refund":
            n_ref += 1
            refunded[p.method] = refunded.get(p.method, 0) + p.amount
        else:
            n_pay += 1
            taken[p.method] = taken.get(p.method, 0) + p.amount
            counted[p.method] = counted.get(p.method, 0) + 1
    return DayMetrics(n_pay, dict(sorted(taken.items())), n_ref, dict(sorted(refunded.items())),
                      dict(sorted(counted.items())))


__all__ = [
    "BLOCK_REASONS", "LIVE_CARD_STATUSES", "PIN_LOCKOUT_MINUTES", "DayMetrics", "PaymentRecord",
    "PinLockout", "PinState", "ReaderRecord", "RenewalTerms", "blocked_status",
    "card_refusal", "day_metrics", "fees_owed_refuse", "holder_of_id_number",
    "renewal_fee", "renewal_terms",
]

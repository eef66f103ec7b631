"""House rules the kiosk and the record server both apply, each written once (pure functions).

- one active reader per ID number (``holder_of_id_number``)
- fees owed above the limit refuse a renewal or a replacement (``fees_owed_refuse``)
- the renewal's fee, offered periods and new expiry (``renewal_terms``)
- what a block does to a card (``blocked_status``) and which cards may be used (``card_refusal``)
- the PIN lockout policy (``PinLockout``)
- the day report's metrics (``day_metrics``)
- the server's re-check of what a kiosk claims (the same rules the kiosk applies first): a
  payment's allocations (``payment_refusal``), credit spent (``credit_refusal``), a deposit
  refund (``deposit_refund_refusal``), a renewal's fee and its link (``renewal_fee_id``), a new
  card's expiry (``new_card_expiry``), a replacement's generation (``next_generation``), which
  staff may do what (``STAFF_ROLES``, ``staff_refusal``), a stored PIN hash's strength
  (``pin_hash_refusal``) and how far ahead of the server an event may claim to have happened
  (``occurred_at_refusal``)

Callers fetch the records (SQLite on the kiosk, SQLAlchemy on the server) and ask these
functions for the decision; the functions never do I/O and take the time as an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from library_core.fees import FeeSchedule, add_months
from library_core.money import Fen
from library_core.pins import DEFAULT_N, MAX_ATTEMPTS

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


def renewal_fee_id(kiosk_id: str, card_no: str, expires_on: dt.date) -> str:
    """The id of the renewal fee that pays for renewing ``card_no`` to ``expires_on`` at
    ``kiosk_id``. The kiosk assesses and pays that fee before it emits ``card.renewed``; the
    server applies the renewal only when that fee exists, is the reader's and is paid or waived.
    The id names the renewal it pays for, so one fee buys one renewal (a renewal to a later
    expiry needs a fee of its own)."""
    return f"renewal:{kiosk_id}:{card_no}:{expires_on.isoformat()}"


def card_fee_id(kiosk_id: str, card_no: str, kind: str) -> str:
    """The id of a fee that pays for the card ``card_no`` made at ``kiosk_id``: its ``deposit``
    and ``card`` fee (a new card) or its ``replacement`` fee. As with a renewal, the kiosk
    assesses and pays (or staff waive) these before it emits ``card.issued`` / ``card.replaced``,
    and the server makes the card only when each fee the schedule asks for (amount above 0)
    exists under this id, is the reader's, of the schedule's amount, and is paid or waived. The
    id names the card, so one payment buys one card."""
    return f"{kind}:{kiosk_id}:{card_no}"


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


def new_card_expiry(schedule: FeeSchedule, today: dt.date) -> dt.date:
    """A new card's expiry: ``card_validity_months`` from the day it is issued (the latest a
    ``card.issued`` may claim)."""
    return add_months(today, schedule.card_validity_months)


def next_generation(old_generation: int) -> int:
    """A replacement card's generation: exactly one above the card it replaces."""
    return old_generation + 1


def card_refusal(status: str) -> str | None:
    """Why a card with ``status`` may not be used (a message id), or None when it may."""
    if status in (CARD_LOST, CARD_REPLACED):
        return "card.lost"
    if status == CARD_CANCELLED:
        return "card.cancelled"
    return None


# ---- money --------------------------------------------------------------------------------------

def payment_refusal(amount: Fen, allocated: Iterable[Fen]) -> str | None:
    """Why a payment may not be recorded, or None: it must pay something and allocate exactly its
    amount to fees (no unallocated remainder: the kiosk never takes more than is owed; a fee paid
    meanwhile elsewhere becomes credit by the server's double-payment rule, not by a remainder).
    Reasons: ``payment_allocates_nothing``, ``allocations_do_not_match_amount``."""
    parts = list(allocated)
    if amount <= 0 or not parts or not any(parts):
        return "payment_allocates_nothing"
    if sum(parts) != amount:
        return "allocations_do_not_match_amount"
    return None


def credit_refusal(credit: Fen, spend: Fen) -> str | None:
    """A payment from the reader's credit may not take it below 0 (``credit_insufficient``)."""
    return "credit_insufficient" if spend > credit else None


def deposit_refund_refusal(amount: Fen, *, deposit_paid: Fen, refunded: Fen,
                           card_statuses: Iterable[str]) -> str | None:
    """Why a deposit refund may not be paid, or None. At most the deposit the reader paid less
    what was already refunded (``refund_exceeds_deposit``); only once the reader's cards are
    cancelled: at least one cancelled and none still live (``card_not_cancelled``); something
    to refund (``refund_nothing``)."""
    statuses = list(card_statuses)
    if amount <= 0:
        return "refund_nothing"
    if any(s in LIVE_CARD_STATUSES for s in statuses) or CARD_CANCELLED not in statuses:
        return "card_not_cancelled"
    if amount > deposit_paid - refunded:
        return "refund_exceeds_deposit"
    return None


# ---- staff authority ----------------------------------------------------------------------------

ROLE_DESK = "desk"
ROLE_SUPERVISOR = "supervisor"
ACTION_CASH = "cash"
ACTION_WAIVE = "fee.waive"
ACTION_REFUND = "deposit.refund"
ACTION_CANCEL = "card.cancel"
ACTION_CLOSE_DAY = "day.close"
ACTION_DESK = "desk"  # anything staff does at the desk (a staff number on an event)
STAFF_ROLES: Mapping[str, frozenset[str]] = {
    ACTION_CASH: frozenset({ROLE_DESK, ROLE_SUPERVISOR}),
    ACTION_DESK: frozenset({ROLE_DESK, ROLE_SUPERVISOR}),
    ACTION_WAIVE: frozenset({ROLE_SUPERVISOR}),
    ACTION_REFUND: frozenset({ROLE_SUPERVISOR}),
    ACTION_CANCEL: frozenset({ROLE_SUPERVISOR}),
    ACTION_CLOSE_DAY: frozenset({ROLE_SUPERVISOR}),
}
"""Which roles may do each staff action (PRODUCT.md, staff mode): desk staff take cash; a
supervisor waives fees, refunds deposits, cancels cards and closes the day."""


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A member of staff as the server (or the kiosk) stores them."""

    staff_no: str
    role: str
    active: bool = True
    locked: bool = False
    locked_until: dt.datetime | None = None


def staff_refusal(staff: StaffRecord | None, action: str, now: dt.datetime) -> str | None:
    """Why ``staff`` may not do ``action`` at ``now``, or None. Reasons: ``unknown_staff``,
    ``staff_inactive``, ``staff_locked`` (locked until a time still ahead, or until unlocked),
    ``staff_role_required``. Raises KeyError for an unknown action."""
    roles = STAFF_ROLES[action]
    if staff is None:
        return "unknown_staff"
    if not staff.active:
        return "staff_inactive"
    if (staff.locked_until is not None and staff.locked_until > now) or (
            staff.locked and staff.locked_until is None):
        return "staff_locked"
    if staff.role not in roles:
        return "staff_role_required"
    return None


# ---- stored secrets -----------------------------------------------------------------------------

PIN_HASH_MIN_N = DEFAULT_N
PIN_HASH_MAX_N = 1 << 20  # a larger cost would let one stored hash tie up the verifier
PIN_HASH_MIN_R = 8
PIN_HASH_MIN_SALT = 16
PIN_HASH_DIGEST = 32


def pin_hash_refusal(stored: str, *, min_n: int = PIN_HASH_MIN_N) -> str | None:
    """Why a PIN hash may not be stored, or None. The format of ``library_core.pins.hash_pin``
    (``scrypt$n$r$p$salt$digest``, hex salt of at least 16 bytes, a 32-byte digest); the cost at
    least ``min_n`` (a power of two), ``r`` at least 8, ``p`` 1 to 16, ``n`` at most 2**20.
    Reasons: ``pin_hash_malformed``, ``pin_hash_too_weak``."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return "pin_hash_malformed"
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return "pin_hash_malformed"
    if not all(x.isdigit() for x in parts[1:4]) or n < 2 or n & (n - 1) or not 1 <= p <= 16:
        return "pin_hash_malformed"
    if len(digest) != PIN_HASH_DIGEST or n > PIN_HASH_MAX_N or r > 32:
        return "pin_hash_malformed"
    if n < min_n or r < PIN_HASH_MIN_R or len(salt) < PIN_HASH_MIN_SALT:
        return "pin_hash_too_weak"
    return None


# ---- time ---------------------------------------------------------------------------------------

MAX_CLOCK_AHEAD = dt.timedelta(hours=1)


def occurred_at_refusal(occurred_at: dt.datetime, now: dt.datetime,
                        ahead: dt.timedelta = MAX_CLOCK_AHEAD) -> str | None:
    """An event may not claim to have happened more than ``ahead`` after the server's clock
    (``occurred_in_future``): a kiosk's clock drifts by minutes, not hours."""
    return "occurred_in_future" if occurred_at > now + ahead else None


# ---- PIN lockout --------------------------------------------------------------------------------

# how long the 1st, 2nd, 3rd, 4th lockout in a row lasts; each later one doubles the last, up to
# a day (PIN_LOCKOUT_CAP_S): 1 min, 5, 15, 60, 120, 240, 480, 960, 1440, 1440, ...
PIN_LOCKOUT_STEPS_S: tuple[int, ...] = (60, 300, 900, 3600)
PIN_LOCKOUT_CAP_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class PinState:
    """``failures``: wrong PINs in a row since the last right one (or a supervisor's unlock);
    ``locked_until``: set by the wrong PIN that locks."""

    failures: int
    locked_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class PinLockout:
    """The one PIN-lockout policy, for readers and staff, at the kiosk and at the server.

    Every ``max_attempts``-th wrong PIN in a row locks the account; the n-th lockout in a row
    lasts ``lock_seconds(n)``: ``steps_s`` (1, 5, 15, 60 minutes), then doubling, capped at
    ``cap_s`` (a day). A right PIN clears the count and so the backoff; a supervisor's unlock
    (server ``unlock-staff``) does too. While locked nothing is counted: a wrong PIN then
    neither unlocks nor lengthens the lock (the caller refuses before asking this policy).
    ``failures`` counts every wrong PIN in a row, across lockouts, so the number of lockouts is
    ``failures // max_attempts`` and no other counter is needed (kiosk or server).

    Why a backoff and not "until unlocked" or one fixed lock:
    - not forever: a staff number is printed on every receipt, so five tries that anyone can make
      would shut a member of staff out until a supervisor came; kiosks are often unattended;
    - not a fixed 30 minutes either (the old rule): that allows 240 guesses a day, forever;
      with the backoff a guesser gets 40 tries in the first day and 5 a day after, against a
      million 6-digit PINs (a weak-PIN list is refused at enrolment);
    - short first steps: a member of staff who mistypes five times waits a minute, not half
      an hour.
    One policy everywhere, so a PIN locked at a kiosk is locked by the same rule at the server
    and the staff learn one rule.
    """

    max_attempts: int = MAX_ATTEMPTS
    steps_s: tuple[int, ...] = PIN_LOCKOUT_STEPS_S
    cap_s: int = PIN_LOCKOUT_CAP_S

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or not self.steps_s or min(self.steps_s) < 1 or self.cap_s < 1:
            raise ValueError("PinLockout needs max_attempts >= 1 and positive lock times")

    def lock_seconds(self, lockout: int) -> int:
        """How long the ``lockout``-th lockout in a row lasts (1 is the first)."""
        lockout = max(1, lockout)
        if lockout <= len(self.steps_s):
            seconds = self.steps_s[lockout - 1]
        else:
            seconds = self.steps_s[-1] << min(lockout - len(self.steps_s), 40)
        return min(seconds, self.cap_s)

    def locked(self, locked_until: dt.datetime | None, now: dt.datetime) -> bool:
        return locked_until is not None and locked_until > now

    def minutes_left(self, locked_until: dt.datetime, now: dt.datetime) -> int:
        return max(1, -(-int((locked_until - now).total_seconds()) // 60))

    def after_wrong(self, failures: int, now: dt.datetime) -> PinState:
        """The state after one more wrong PIN (``failures`` before it): every
        ``max_attempts``-th locks, for ``lock_seconds`` of that lockout."""
        failures += 1
        if failures % self.max_attempts == 0:
            seconds = self.lock_seconds(failures // self.max_attempts)
            return PinState(failures, now + dt.timedelta(seconds=seconds))
        return PinState(failures)

    def attempts_left(self, failures: int) -> int:
        """Wrong PINs left before the next lockout."""
        return self.max_attempts - failures % self.max_attempts

    def lockouts(self, failures: int) -> int:
        """How many lockouts in a row ``failures`` wrong PINs have caused."""
        return failures // self.max_attempts


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
    "ACTION_CANCEL", "ACTION_CASH", "ACTION_CLOSE_DAY", "ACTION_DESK", "ACTION_REFUND",
    "ACTION_WAIVE", "MAX_CLOCK_AHEAD", "PIN_HASH_MIN_N", "ROLE_DESK", "ROLE_SUPERVISOR",
    "STAFF_ROLES", "StaffRecord", "credit_refusal", "deposit_refund_refusal", "new_card_expiry",
    "next_generation", "occurred_at_refusal", "payment_refusal", "pin_hash_refusal",
    "renewal_fee_id", "staff_refusal",
    "BLOCK_REASONS", "LIVE_CARD_STATUSES", "PIN_LOCKOUT_CAP_S", "PIN_LOCKOUT_STEPS_S",
    "DayMetrics", "PaymentRecord",
    "PinLockout", "PinState", "ReaderRecord", "RenewalTerms", "blocked_status",
    "card_refusal", "day_metrics", "fees_owed_refuse", "holder_of_id_number",
    "renewal_fee", "renewal_terms",
]

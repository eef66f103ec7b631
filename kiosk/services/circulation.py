"""Circulation: who owns loans, items and patrons' fines. Two adapters, chosen per kiosk in
config: our record server (the kiosk's own store; ``ReturnService`` as it always was, no
``CirculationDesk``) and the library's ILS over SIP2 (``server_client.sip2.circulation``).

With an ILS, a return is checked in there and its answer is what the reader sees; a fee paid
here is posted to it (37) after the payment settles; a card reported lost blocks the patron
(01). While the ILS is unreachable the offline policy decides: ``off`` (to the desk),
``checkin`` (returns queued), ``checkin_and_fees`` (fee postings queued too), at most ``cap``
transactions queued. The queue is durable in the kiosk store and forwarded in order when the
link comes back; every transaction the ILS refuses is kept for staff (the exception report).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from library_core.errors import SyncError
from library_core.money import Fen

log = logging.getLogger(__name__)


class OfflinePolicy(enum.StrEnum):
    OFF = "off"
    CHECKIN = "checkin"
    CHECKIN_AND_FEES = "checkin_and_fees"


QUEUE_CHECKIN, QUEUE_FEE_PAID, QUEUE_BLOCK = "checkin", "fee_paid", "block_patron"
# the settled answer of a queued return whose first, late-answered 09 had checked it in
ALREADY_CHECKED_IN = "already checked in (an earlier answer came late)"


class CheckinAnswer(NamedTuple):
    """The ILS's answer to a check-in (SIP2 10). Immutable like the port's dataclasses, but a
    NamedTuple: it is made once per return, and a frozen dataclass's ``__init__`` (one
    ``object.__setattr__`` per field) was about a tenth of the SIP2 adapter's own work."""

    ok: bool
    item: str
    title: str = ""
    alert: bool = False
    sort_bin: str = ""
    hold: bool = False  # goes to the hold shelf (someone is waiting for it)
    screen_messages: tuple[str, ...] = ()
    print_lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IlsFine:
    fine_id: str
    amount: Fen
    description: str


# SIP2's 14 patron status flags (24/64), in wire order: a set flag is a block or limit the
# ILS puts on the patron; the screens name each (``ils.flag.<name>``)
PATRON_FLAGS: tuple[str, ...] = (
    "charge_denied", "renewal_denied", "recall_denied", "hold_denied", "card_lost",
    "too_many_charged", "too_many_overdue", "too_many_renewals", "too_many_claims_returned",
    "too_many_lost", "excessive_fines", "excessive_fees", "recall_overdue", "too_many_billed")
RENEWAL_DENIED = "renewal_denied"


def patron_flags(status: str) -> tuple[str, ...]:
    """The names of the flags set (``Y``) in a 14-character patron status, in wire order."""
    return tuple(name for name, ch in zip(PATRON_FLAGS, status, strict=False) if ch == "Y")


@dataclass(frozen=True, slots=True)
class PatronAccount:
    """A patron as the ILS knows them (SIP2 24/64): ``flags`` the patron status flags set
    (``PATRON_FLAGS`` names), ``screen_messages`` (AF) and ``print_lines`` (AG) as sent."""

    patron_id: str
    name: str
    valid: bool
    blocked: bool
    owed: Fen
    fines: tuple[IlsFine, ...] = ()
    charged_items: tuple[str, ...] = ()
    screen_messages: tuple[str, ...] = ()
    password_ok: bool | None = None  # the ILS's answer on the PIN sent (None: none sent)
    flags: tuple[str, ...] = ()
    print_lines: tuple[str, ...] = ()

    @property
    def renewal_denied(self) -> bool:
        """The ILS says the patron's renewal privileges are denied."""
        return RENEWAL_DENIED in self.flags


@dataclass(frozen=True, slots=True)
class Posting:
    """The ILS's answer to a fee paid (38), a block (24) or a renewal (30)."""

    accepted: bool
    screen_messages: tuple[str, ...] = ()
    due: str = ""  # a renewal's new due date, as the ILS wrote it


@dataclass(frozen=True, slots=True)
class LinkState:
    up: bool
    last_error: str = ""  # message id ("" none)
    last_error_detail: str = ""
    last_error_at: dt.datetime | None = None


class Circulation(Protocol):
    """The library system that owns loans. Every call raises ``SyncError`` when the ILS cannot
    answer in time (then the offline policy applies)."""

    def check_in(self, item: str, *, returned_at: dt.datetime | None = None) -> CheckinAnswer: ...
    def account(self, patron: str, *, password: str | None = None) -> PatronAccount: ...
    def fee_paid(self, patron: str, amount: Fen, *, transaction_id: str,
                 fee_id: str | None = None) -> Posting: ...
    def block_patron(self, patron: str, message: str) -> Posting: ...
    def renew(self, patron: str, item: str) -> Posting: ...
    def end_session(self, patron: str) -> None: ...
    def link(self) -> LinkState: ...


@dataclass(frozen=True, slots=True)
class Queued:
    queue_id: int
    kind: str
    payload: dict[str, Any]
    queued_at: dt.datetime
    status: str = "pending"  # pending | forwarded | refused
    answer: str = ""  # the ILS's screen messages (refused) or "" ; JSON-free text for staff


class ForwardQueue(Protocol):
    """Transactions waiting for the ILS, in order (the kiosk store keeps them)."""

    def add(self, kind: str, payload: Mapping[str, Any], *, at: dt.datetime) -> int: ...
    def pending(self) -> list[Queued]: ...
    def pending_count(self) -> int: ...
    def settle(self, queue_id: int, status: str, answer: str, *, at: dt.datetime) -> None:
        """Mark one forwarded (``forwarded``) or refused by the ILS (``refused``)."""
        ...
    def exceptions(self) -> list[Queued]:
        """Refused transactions, oldest first (the exception report)."""
        ...


@dataclass
class CirculationDesk:
    """The ILS, its offline queue and policy, as the use cases get them."""

    ils: Circulation
    queue: ForwardQueue
    policy: OfflinePolicy = OfflinePolicy.CHECKIN
    cap: int = 200

    def may_queue(self, kind: str) -> bool:
        """Whether a transaction of ``kind`` may wait for the ILS now (policy and cap)."""
        if kind == QUEUE_CHECKIN:
            allowed = self.policy in (OfflinePolicy.CHECKIN, OfflinePolicy.CHECKIN_AND_FEES)
        elif kind == QUEUE_FEE_PAID:
            allowed = self.policy is OfflinePolicy.CHECKIN_AND_FEES
        else:
            allowed = self.policy is not OfflinePolicy.OFF  # a block never waits for nobody
        return allowed and self.queue.pending_count() < self.cap


class Forwarder:
    """Sends the queue to the ILS in order when the link is up. Stops at the first transaction
    the ILS cannot answer (it stays first); a refusal goes to the exception report and the
    next one is sent. One forwarding at a time."""

    def __init__(self, desk: CirculationDesk, clock: Any) -> None:
        self.desk = desk
        self.clock = clock
        self._lock = threading.Lock()

    def forward(self) -> tuple[int, int]:
        """Forward what is pending; returns (forwarded, refused). Raises StoreError only."""
        done = refused = 0
        with self._lock:
            for entry in self.desk.queue.pending():
                try:
                    posting = self._send(entry)
                except SyncError as err:
                    log.info("forwarding stopped at #%s: %s", entry.queue_id, err)
                    break
                status = "forwarded" if posting.accepted else "refused"
                self.desk.queue.settle(entry.queue_id, status, " / ".join(posting.screen_messages),
                                       at=self.clock.now())
                if posting.accepted:
                    done += 1
                else:
                    refused += 1
                    log.warning("the ILS refused queued %s #%s: %s", entry.kind, entry.queue_id,
                                posting.screen_messages)
        return done, refused

    def _send(self, entry: Queued) -> Posting:
        ils, p = self.desk.ils, entry.payload
        if entry.kind == QUEUE_CHECKIN:
            answer = ils.check_in(str(p["item"]), returned_at=entry.queued_at)
            if not answer.ok and p.get("maybe_checked_in") and answer.title:
                # the first 09 reached the ILS and was answered late: the ILS knows the item
                # and has it back already ("not checked out"), so this return is done
                log.info("queued check-in of %s: already checked in at the ILS (%s)", p["item"],
                         answer.screen_messages)
                return Posting(True, (ALREADY_CHECKED_IN, *answer.screen_messages))
            return Posting(answer.ok, answer.screen_messages)
        if entry.kind == QUEUE_FEE_PAID:
            return ils.fee_paid(str(p["patron"]), int(p["amount"]),
                                transaction_id=str(p["transaction_id"]),
                                fee_id=p.get("fee_id"))
        if entry.kind == QUEUE_BLOCK:
            return ils.block_patron(str(p["patron"]), str(p["message"]))
        return Posting(False, (f"unknown queued kind {entry.kind!r}",))

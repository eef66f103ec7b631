"""What the use cases need from the outside world. Devices and adapters implement these."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from library_core.fees import FeeSchedule
from library_core.money import Fen
from library_core.receipts import Receipt
from library_core.rules import PaymentRecord, PinState, ReaderRecord
from library_core.staff_rules import OfflineStaffPolicy


class CardWriter(Protocol):
    """The card on the reader, as the use cases see it (``devices.card_reader`` implements it)."""

    def current_uid(self) -> bytes | None:
        """UID of the card on the reader now, or None."""
        ...

    def read_token(self, uid: bytes) -> bytes:
        """The raw 48 token bytes from the card's token sector. Raises CardError."""
        ...

    def write_token(self, uid: bytes, data: bytes) -> None:
        """Write 48 token bytes, read them back and compare. Raises CardWriteError on any failure."""
        ...


@dataclass(frozen=True, slots=True)
class Charge:
    transaction_id: str
    provider: str
    amount: Fen
    out_trade_no: str = ""  # the kiosk's own trade number (the intent), "" for the simulator


class PaymentGateway(Protocol):
    """A mobile-payment gateway (WeChat Pay / Alipay behind one interface)."""

    def charge(self, *, code: str, amount: Fen, reference: str) -> Charge:
        """Take ``amount`` with a scanned payment code. Raises PaymentError (refused, timeout)."""
        ...

    def refund(self, charge: Charge, *, reason: str) -> None:
        """Give a charge back in full (used when a later step of the transaction fails)."""
        ...


class ConnectivityProbe(Protocol):
    """Whether the kiosk can reach the record server now (the sync loop knows)."""

    def is_online(self) -> bool:
        """True while the last sync round's push and pull were accepted by the server."""
        ...

    def out_of_service(self) -> bool:
        """True when the server refused this kiosk's credential (revoked): no payments."""
        ...


class AlwaysOnline:
    """The default probe: every payment is treated as seen by the server (no offline limit)."""

    def is_online(self) -> bool:
        return True

    def out_of_service(self) -> bool:
        return False


class StatusConnectivity:
    """Adapter over a status getter (``lambda: sync_loop.status``): online when the status
    says ``online``; offline when there is no status or it says otherwise; out of service when
    it says ``revoked``."""

    def __init__(self, status: Callable[[], object]) -> None:
        self._status = status

    def is_online(self) -> bool:
        return bool(getattr(self._status(), "online", False))

    def out_of_service(self) -> bool:
        return bool(getattr(self._status(), "revoked", False))


class FeeScheduleSource(Protocol):
    """The fee schedule in force now: the one last pulled from the record server, else the
    configured seed (``kiosk.services.fees.PulledFeeSchedule``). Quotes and charges both ask it."""

    def current(self) -> FeeSchedule:
        ...


# ---- repositories: what the use cases read and write, as domain objects ------------------------
# The SQLite store implements them (``server_client.store.repositories``); a use case opens a
# unit of work (``Repositories.transaction()``: one atomic transaction) or a read-only view
# (``Repositories.read()``) and asks its repositories. No SQL in the use cases.


@dataclass(frozen=True, slots=True)
class Reader:
    """A reader as the kiosk holds one: masked ID number and phone only (the store keeps the
    keyed hash of the number for "same person" checks, never the number)."""

    reader_id: str
    name: str
    id_masked: str
    phone_masked: str
    category: str
    status: str = "active"
    registered_at: str = ""


@dataclass(frozen=True, slots=True)
class Card:
    card_no: str
    reader_id: str
    uid: str  # lower-case hex, as the kiosk writes it
    generation: int
    status: str
    expires_on: dt.date
    issued_at: str = ""


@dataclass(frozen=True, slots=True)
class Fee:
    fee_id: str
    reader_id: str
    kind: str
    amount: Fen
    paid: Fen
    status: str
    description: str = ""
    created_at: str = ""
    loan_id: str | None = None
    item_barcode: str | None = None

    @property
    def due(self) -> Fen:
        return self.amount - self.paid


@dataclass(frozen=True, slots=True)
class Item:
    barcode: str
    title: str
    status: str
    hold: bool = False


@dataclass(frozen=True, slots=True)
class Loan:
    loan_id: str
    item_barcode: str
    reader_id: str
    due_on: dt.date
    returned_at: str | None = None
    title: str = ""  # the item's, when listed for a reader


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    kind: str  # payment | refund
    reader_id: str | None
    receipt_no: str
    method: str
    transaction_id: str
    amount: Fen
    staff_no: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class VisitRecord:
    visit_id: str
    visit_no: int
    name: str
    phone: str  # masked (138****5678): the kiosk keeps no visitor's clear phone
    id_number: str | None  # masked, or None
    purpose: str
    host_department: str
    opened_at: dt.datetime
    expires_at: dt.datetime
    pass_token: str = ""
    closed_at: dt.datetime | None = None
    closed_how: str | None = None


@dataclass(frozen=True, slots=True)
class StaffMember:
    staff_no: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class PinVerdict:
    """The record server's answer to a reader's PIN: ``ok``, ``wrong`` (``attempts_left``
    before the lock) or ``locked`` (``minutes`` left)."""

    result: str
    attempts_left: int = 0
    minutes: int = 0
    grant: str = ""  # ok: the server's proof that the reader was here (names the block and
    # the replacement it is for; record_server/grants.py)


class ReaderPinVerifier(Protocol):
    """Checks a reader's PIN at the record server (kiosks hold no reader PIN hash)."""

    def verify_reader_pin(self, reader_id: str, id_number: str, pin: str) -> PinVerdict:
        """Raises SyncError (``SyncOffline`` when the server cannot be reached), NotFound
        ``reader.not_found`` when the server has no such active reader."""
        ...


class ReaderRepository(Protocol):
    def get(self, reader_id: str) -> Reader | None: ...
    def active_by_id_hash(self, id_hash: str) -> Reader | None: ...
    def registered_with(self, id_hash: str) -> list[ReaderRecord]:
        """Every reader whose ID number has this keyed hash (``identity.id_number_hash``), for
        ``library_core.rules.holder_of_id_number``."""
        ...
    def add(self, reader: Reader, *, id_hash: str, at: dt.datetime) -> None: ...
    def set_status(self, reader_id: str, status: str) -> None: ...


class CardRepository(Protocol):
    def get(self, card_no: str) -> Card | None: ...
    def active_with_uid(self, uid_hex: str) -> Card | None: ...
    def of_reader(self, reader_id: str, statuses: Iterable[str]) -> list[Card]: ...
    def latest_of_reader(self, reader_id: str) -> Card | None: ...
    def add(self, card: Card) -> None: ...
    def set_status(self, card_no: str, status: str, *, blocked_at: dt.datetime | None = None) -> None: ...
    def set_expiry(self, card_no: str, expires_on: dt.date) -> None: ...


class FeeRepository(Protocol):
    def get(self, fee_id: str) -> Fee | None: ...
    def open_of_reader(self, reader_id: str) -> list[Fee]:
        """Open fees, oldest first."""
        ...
    def add(self, fee: Fee) -> None: ...
    def set_paid(self, fee_id: str, paid: Fen, status: str) -> None: ...
    def set_status(self, fee_id: str, status: str) -> None: ...
    def paid_of_kind(self, reader_id: str, kind: str) -> Fen: ...


class PaymentRepository(Protocol):
    def add(self, payment: Payment, allocations: Sequence[tuple[str, Fen]]) -> None: ...
    def of_day(self, day: dt.date) -> list[PaymentRecord]: ...
    def paid_by_fee_kind(self, day: dt.date) -> dict[str, Fen]:
        """Payments (not refunds) of the day allocated to fees, by fee kind (sorted)."""
        ...


class LoanRepository(Protocol):
    """Loans and the items they lend."""

    def item(self, barcode: str) -> Item | None: ...
    def open_loan(self, barcode: str) -> Loan | None: ...
    def last_returned_at(self, barcode: str) -> str | None: ...
    def open_of_reader(self, reader_id: str) -> list[Loan]:
        """Open loans with their titles, soonest due first."""
        ...
    def mark_returned(self, loan_id: str, barcode: str, at: dt.datetime) -> None: ...


class VisitRepository(Protocol):
    def add(self, visit: VisitRecord, *, consent_at: dt.datetime) -> None: ...
    def get(self, visit_id: str) -> VisitRecord | None: ...
    def by_pass(self, visit_no: int, pass_token: str) -> VisitRecord | None: ...
    def open_visits(self) -> list[VisitRecord]:
        """Open visits, oldest first."""
        ...
    def close(self, visit_id: str, at: dt.datetime, how: str) -> None: ...


class StaffRepository(Protocol):
    def active(self, identifier: str) -> StaffMember | None:
        """The active member with this staff number or staff card number."""
        ...


@dataclass(frozen=True, slots=True)
class OfflineGrant:
    """An offline verifier from the server's staff log-in answer (docs/security.md 5.4)."""

    verifier_id: str
    verifier: bytes  # V: stored
    valid_until: str
    offline_key: bytes  # K_k: memory only
    policy: OfflineStaffPolicy | None = None  # the server's (the stricter of it and ours applies)


@dataclass(frozen=True, slots=True)
class StaffGrant:
    """The record server's kiosk staff session: its MAC key is held in memory only."""

    session_id: str
    session_key: bytes
    staff_no: str
    name: str
    role: str
    started_at: dt.datetime
    expires_at: dt.datetime
    offline: OfflineGrant | None = None


class StaffAuthority(Protocol):
    """Staff log-in checked by the record server (the kiosk holds no staff PIN hash)."""

    def open_staff_session(self, identifier: str, pin: str) -> StaffGrant:
        """Raises StaffLoginRefused (wrong, unknown, inactive or locked: one answer),
        SyncOffline when the server cannot be reached, SyncError otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class StoredVerifier:
    verifier_id: str
    staff_no: str
    role: str
    valid_until: str
    verifier: bytes
    failures: int = 0
    locked_until: dt.datetime | None = None


class StaffVerifierRepository(Protocol):
    """Offline verifiers, the latest per staff member, with their PIN-lockout count."""

    def latest(self, staff_no: str) -> StoredVerifier | None: ...
    def put(self, verifier: StoredVerifier) -> None: ...
    def set_state(self, verifier_id: str, failures: int,
                  locked_until: dt.datetime | None) -> None: ...


class IlsPinRepository(Protocol):
    """Wrong ILS PINs in a row of readers only the library's ILS knows, by the keyed hash of
    their ILS patron number (``kiosk.services.ils_pins``)."""

    def state(self, patron_key: str) -> PinState: ...
    def set_state(self, patron_key: str, state: PinState) -> None: ...


class ReceiptJournal(Protocol):
    def next_receipt_no(self, day: dt.date) -> str: ...
    def add(self, receipt: Receipt) -> None: ...


class Counters(Protocol):
    def next(self, name: str) -> int:
        """The next value of a gapless counter (committed with the unit of work or not at all)."""
        ...


class AuditLog(Protocol):
    def append(self, *, at: dt.datetime, actor: str, action: str, subject: str = "",
               detail: Mapping[str, Any] | None = None) -> None: ...


class EventProver(Protocol):
    """Signs a staff event when it is emitted (``kiosk.services.staff_auth.StaffProver``)."""

    @property
    def offline_policy(self) -> OfflineStaffPolicy | None:
        """The offline staff policy the event must keep (None: an online session)."""
        ...

    def proof(self, message: bytes) -> dict[str, str]:
        """The envelope's ``staff_proof`` over ``canonical_event_bytes`` of the event."""
        ...


class Outbox(Protocol):
    def emit(self, kind: str, payload: Mapping[str, Any], *, occurred_at: dt.datetime,
             prover: EventProver | None = None) -> str:
        """Queue one event for the record server; returns its event id. With ``prover``, the
        event carries its staff proof (an offline one is checked against its policy first:
        raises ``library_core.staff_rules.OfflineStaffRefused``)."""
        ...
    def counts_of_day(self, day: dt.date) -> dict[str, int]: ...
    def payloads_of_day(self, day: dt.date, kinds: Iterable[str]) -> list[tuple[str, dict[str, Any]]]: ...


class ClosedDays(Protocol):
    def is_closed(self, day: dt.date) -> bool: ...
    def close(self, day: str, *, staff_no: str, at: dt.datetime, report: Mapping[str, Any]) -> None: ...


class UnitOfWork(Protocol):
    """One atomic transaction over every repository (or a read-only view of them)."""

    readers: ReaderRepository
    cards: CardRepository
    fees: FeeRepository
    payments: PaymentRepository
    loans: LoanRepository
    visits: VisitRepository
    staff: StaffRepository
    verifiers: StaffVerifierRepository
    ils_pins: IlsPinRepository
    receipts: ReceiptJournal
    counters: Counters
    audit: AuditLog
    outbox: Outbox
    days: ClosedDays


class Repositories(Protocol):
    """Where the use cases' records live. ``transaction()`` commits on a clean exit and rolls
    every write back on any exception (raises StoreError on a store failure); ``read()`` is a
    read-only view outside any transaction."""

    def transaction(self) -> AbstractContextManager[UnitOfWork]: ...
    def read(self) -> AbstractContextManager[UnitOfWork]: ...
    def pulled_fee_schedule(self, on: dt.date | None = None) -> dict[str, Any] | None: ...


class RepositorySource(Protocol):
    """What ``build_services`` is given: a store that hands out the use cases' repositories."""

    def repositories(self) -> Repositories: ...

"""The SQLite implementations of the use cases' repositories (``kiosk.services.ports``).

``StoreRepositories(store)`` hands out a ``SqliteUnitOfWork``: inside ``transaction()`` every
statement goes through the store's ``Tx`` (so the fault hook sees each one and any failure
rolls the whole unit back); ``read()`` answers from the store's read snapshot and refuses
writes. Rows come back as the ports' frozen dataclasses, never as ``sqlite3.Row``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from kiosk.services.ports import (
    Card,
    EventProver,
    Fee,
    Item,
    Loan,
    Payment,
    Reader,
    StaffMember,
    StoredVerifier,
    VisitRecord,
)
from library_core import events
from library_core.ereceipts import issued_payload
from library_core.errors import StoreError
from library_core.money import Fen
from library_core.receipts import Receipt
from library_core.rules import PaymentRecord, ReaderRecord
from server_client.store.ils_pins import SqliteIlsPins

if TYPE_CHECKING:
    import sqlite3

    from server_client.store.db import Store, Tx


class _Sql(Protocol):
    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None: ...
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]: ...


class _ReadOnly:
    """The store's read snapshot behind the ``Tx`` read methods; every write is refused."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return self._store.read_one(sql, params)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._store.read(sql, params)

    def __getattr__(self, name: str) -> Any:
        raise StoreError("error.store", f"{name}: a read-only view cannot write")


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class _Repo:
    def __init__(self, db: Any) -> None:
        self.db = db  # a Tx, or _ReadOnly


class SqliteReaders(_Repo):
    """Readers as the kiosk holds them: the keyed hash of the ID number and the masked ID
    number and phone (``ReaderEntity``); no clear number, phone or PIN hash."""

    @staticmethod
    def _reader(r: sqlite3.Row) -> Reader:
        return Reader(r["reader_id"], r["name"], r["id_masked"], r["phone_masked"],
                      r["category"], r["status"], r["registered_at"])

    def get(self, reader_id: str) -> Reader | None:
        r = self.db.one("SELECT * FROM readers WHERE reader_id = ?", (reader_id,))
        return self._reader(r) if r is not None else None

    def active_by_id_hash(self, id_hash: str) -> Reader | None:
        r = self.db.one("SELECT * FROM readers WHERE id_hash = ? AND status = 'active'"
                        " ORDER BY registered_at LIMIT 1", (id_hash,))
        return self._reader(r) if r is not None else None

    def registered_with(self, id_hash: str) -> list[ReaderRecord]:
        rows = self.db.all(
            "SELECT r.reader_id, r.status, r.registered_at, EXISTS (SELECT 1 FROM cards c"
            " WHERE c.reader_id = r.reader_id AND c.status IN ('active', 'lost')) AS live"
            " FROM readers r WHERE r.id_hash = ?", (id_hash,))
        return [ReaderRecord(r["reader_id"], r["status"], r["registered_at"],
                             has_live_card=bool(r["live"])) for r in rows]

    def add(self, reader: Reader, *, id_hash: str, at: dt.datetime) -> None:
        self.db.insert("readers", {
            "reader_id": reader.reader_id, "name": reader.name, "id_hash": id_hash,
            "id_masked": reader.id_masked, "phone_masked": reader.phone_masked,
            "category": reader.category, "status": reader.status, "credit": 0,
            "registered_at": at})

    def set_status(self, reader_id: str, status: str) -> None:
        self.db.update("readers", "reader_id", reader_id, {"status": status})


class SqliteCards(_Repo):
    @staticmethod
    def _card(r: sqlite3.Row) -> Card:
        return Card(r["card_no"], r["reader_id"], r["uid"], int(r["generation"]), r["status"],
                    _date(r["expires_on"]), r["issued_at"])

    def get(self, card_no: str) -> Card | None:
        r = self.db.one("SELECT * FROM cards WHERE card_no = ?", (card_no,))
        return self._card(r) if r is not None else None

    def active_with_uid(self, uid_hex: str) -> Card | None:
        r = self.db.one("SELECT * FROM cards WHERE uid = ? AND status = 'active'", (uid_hex,))
        return self._card(r) if r is not None else None

    def of_reader(self, reader_id: str, statuses: Iterable[str]) -> list[Card]:
        wanted = sorted(statuses)
        marks = ", ".join("?" for _ in wanted)
        rows = self.db.all(f"SELECT * FROM cards WHERE reader_id = ? AND status IN ({marks})"
                           " ORDER BY rowid", (reader_id, *wanted))
        return [self._card(r) for r in rows]

    def latest_of_reader(self, reader_id: str) -> Card | None:
        r = self.db.one("SELECT * FROM cards WHERE reader_id = ?"
                        " ORDER BY generation DESC, issued_at DESC LIMIT 1", (reader_id,))
        return self._card(r) if r is not None else None

    def add(self, card: Card) -> None:
        self.db.insert("cards", {
            "card_no": card.card_no, "reader_id": card.reader_id, "uid": card.uid,
            "generation": card.generation, "status": card.status, "issued_at": card.issued_at,
            "expires_on": card.expires_on})

    def set_status(self, card_no: str, status: str, *,
                   blocked_at: dt.datetime | None = None) -> None:
        changes: dict[str, Any] = {"status": status}
        if blocked_at is not None:
            changes["blocked_at"] = blocked_at
        self.db.update("cards", "card_no", card_no, changes)

    def set_expiry(self, card_no: str, expires_on: dt.date) -> None:
        self.db.update("cards", "card_no", card_no, {"expires_on": expires_on})


class SqliteFees(_Repo):
    @staticmethod
    def _fee(r: sqlite3.Row) -> Fee:
        return Fee(r["fee_id"], r["reader_id"], r["kind"], int(r["amount"]), int(r["paid"]),
                   r["status"], r["description"], r["created_at"], r["loan_id"],
                   r["item_barcode"])

    def get(self, fee_id: str) -> Fee | None:
        r = self.db.one("SELECT * FROM fees WHERE fee_id = ?", (fee_id,))
        return self._fee(r) if r is not None else None

    def open_of_reader(self, reader_id: str) -> list[Fee]:
        rows = self.db.all("SELECT * FROM fees WHERE reader_id = ? AND status = 'open'"
                           " ORDER BY created_at, fee_id", (reader_id,))
        return [self._fee(r) for r in rows]

    def add(self, fee: Fee) -> None:
        row: dict[str, Any] = {
            "fee_id": fee.fee_id, "reader_id": fee.reader_id, "kind": str(fee.kind),
            "amount": fee.amount, "paid": fee.paid, "status": fee.status,
            "description": fee.description, "created_at": fee.created_at}
        if fee.loan_id is not None or fee.item_barcode is not None:
            row |= {"loan_id": fee.loan_id, "item_barcode": fee.item_barcode}
        self.db.insert("fees", row)

    def set_paid(self, fee_id: str, paid: Fen, status: str) -> None:
        self.db.update("fees", "fee_id", fee_id, {"paid": paid, "status": status})

    def set_status(self, fee_id: str, status: str) -> None:
        self.db.update("fees", "fee_id", fee_id, {"status": status})

    def paid_of_kind(self, reader_id: str, kind: str) -> Fen:
        r = self.db.one("SELECT coalesce(sum(paid), 0) FROM fees WHERE reader_id = ?"
                        " AND kind = ?", (reader_id, str(kind)))
        return int(r[0]) if r is not None else 0


class SqlitePayments(_Repo):
    def add(self, payment: Payment, allocations: Sequence[tuple[str, Fen]]) -> None:
        self.db.insert("payments", {
            "payment_id": payment.payment_id, "kind": payment.kind,
            "reader_id": payment.reader_id, "receipt_no": payment.receipt_no,
            "method": payment.method, "transaction_id": payment.transaction_id,
            "amount": payment.amount, "staff_no": payment.staff_no,
            "created_at": payment.created_at, "day": payment.created_at.date()})
        for fee_id, amount in allocations:
            self.db.insert("payment_allocations", {"payment_id": payment.payment_id,
                                                   "fee_id": fee_id, "amount": amount})

    def of_day(self, day: dt.date) -> list[PaymentRecord]:
        rows = self.db.all("SELECT kind, method, amount FROM payments WHERE day = ?"
                           " ORDER BY created_at, payment_id", (day.isoformat(),))
        return [PaymentRecord(r["kind"], r["method"], int(r["amount"])) for r in rows]

    def paid_by_fee_kind(self, day: dt.date) -> dict[str, Fen]:
        rows = self.db.all(
            "SELECT f.kind, sum(a.amount) AS total FROM payment_allocations a"
            " JOIN payments p ON p.payment_id = a.payment_id JOIN fees f ON f.fee_id = a.fee_id"
            " WHERE p.day = ? AND p.kind = 'payment' GROUP BY f.kind ORDER BY f.kind",
            (day.isoformat(),))
        return {r["kind"]: int(r["total"]) for r in rows}


class SqliteLoans(_Repo):
    @staticmethod
    def _loan(r: sqlite3.Row, title: str = "") -> Loan:
        return Loan(r["loan_id"], r["item_barcode"], r["reader_id"], _date(r["due_on"]),
                    r["returned_at"], title)

    def item(self, barcode: str) -> Item | None:
        r = self.db.one("SELECT * FROM items WHERE barcode = ?", (barcode,))
        return Item(r["barcode"], r["title"], r["status"], bool(r["hold"])) if r else None

    def open_loan(self, barcode: str) -> Loan | None:
        r = self.db.one("SELECT * FROM loans WHERE item_barcode = ? AND returned_at IS NULL",
                        (barcode,))
        return self._loan(r) if r is not None else None

    def last_returned_at(self, barcode: str) -> str | None:
        r = self.db.one("SELECT returned_at FROM loans WHERE item_barcode = ?"
                        " AND returned_at IS NOT NULL ORDER BY returned_at DESC LIMIT 1",
                        (barcode,))
        return str(r["returned_at"]) if r is not None else None

    def open_of_reader(self, reader_id: str) -> list[Loan]:
        rows = self.db.all("SELECT l.*, i.title FROM loans l"
                           " JOIN items i ON i.barcode = l.item_barcode"
                           " WHERE l.reader_id = ? AND l.returned_at IS NULL ORDER BY l.due_on",
                           (reader_id,))
        return [self._loan(r, r["title"]) for r in rows]

    def mark_returned(self, loan_id: str, barcode: str, at: dt.datetime) -> None:
        self.db.update("loans", "loan_id", loan_id, {"returned_at": at})
        self.db.update("items", "barcode", barcode, {"status": "available"})


class SqliteVisits(_Repo):
    @staticmethod
    def _visit(r: sqlite3.Row) -> VisitRecord:
        opened, expires = _when(r["opened_at"]), _when(r["expires_at"])
        assert opened is not None and expires is not None
        return VisitRecord(
            r["visit_id"], int(r["visit_no"]), r["name"], r["phone"], r["id_number"],
            r["purpose"], r["host_department"], opened, expires, r["pass_token"],
            _when(r["closed_at"]), r["closed_how"])

    def add(self, visit: VisitRecord, *, consent_at: dt.datetime) -> None:
        self.db.insert("visitors", {
            "visit_id": visit.visit_id, "visit_no": visit.visit_no, "name": visit.name,
            "phone": visit.phone, "id_number": visit.id_number, "purpose": visit.purpose,
            "host_department": visit.host_department, "consent_at": consent_at,
            "opened_at": visit.opened_at, "expires_at": visit.expires_at,
            "pass_token": visit.pass_token})

    def get(self, visit_id: str) -> VisitRecord | None:
        r = self.db.one("SELECT * FROM visitors WHERE visit_id = ?", (visit_id,))
        return self._visit(r) if r is not None else None

    def by_pass(self, visit_no: int, pass_token: str) -> VisitRecord | None:
        r = self.db.one("SELECT * FROM visitors WHERE visit_no = ? AND pass_token = ?",
                        (visit_no, pass_token))
        return self._visit(r) if r is not None else None

    def open_visits(self) -> list[VisitRecord]:
        rows = self.db.all("SELECT * FROM visitors WHERE closed_at IS NULL ORDER BY opened_at")
        return [self._visit(r) for r in rows]

    def close(self, visit_id: str, at: dt.datetime, how: str) -> None:
        self.db.update("visitors", "visit_id", visit_id, {"closed_at": at, "closed_how": how})


class SqliteStaff(_Repo):
    def active(self, identifier: str) -> StaffMember | None:
        r = self.db.one("SELECT staff_no, name, role FROM staff"
                        " WHERE (staff_no = ? OR card_no = ?) AND active = 1",
                        (identifier, identifier))
        return StaffMember(r["staff_no"], r["name"], r["role"]) if r is not None else None


class SqliteVerifiers(_Repo):
    """Offline staff verifiers (the kiosk holds no PIN hash: reader and staff PINs are
    checked by the server; ``V`` checks a PIN offline only with the in-memory key)."""

    def latest(self, staff_no: str) -> StoredVerifier | None:
        r = self.db.one("SELECT * FROM staff_verifiers WHERE staff_no = ?", (staff_no,))
        if r is None:
            return None
        return StoredVerifier(r["verifier_id"], r["staff_no"], r["role"], r["valid_until"],
                              bytes.fromhex(r["verifier"]), int(r["failures"]),
                              _when(r["locked_until"]))

    def put(self, verifier: StoredVerifier) -> None:
        self.db.execute("DELETE FROM staff_verifiers WHERE staff_no = ?", (verifier.staff_no,))
        self.db.insert("staff_verifiers", {
            "verifier_id": verifier.verifier_id, "staff_no": verifier.staff_no,
            "role": verifier.role, "valid_until": verifier.valid_until,
            "verifier": verifier.verifier.hex(), "failures": 0, "locked_until": None})

    def set_state(self, verifier_id: str, failures: int,
                  locked_until: dt.datetime | None) -> None:
        self.db.update("staff_verifiers", "verifier_id", verifier_id,
                       {"failures": failures, "locked_until": locked_until})


class SqliteReceipts(_Repo):
    def next_receipt_no(self, day: dt.date) -> str:
        return str(self.db.next_receipt_no(day))

    def add(self, receipt: Receipt) -> None:
        """Journal ``receipt``; one with an e-receipt token is pushed too (``receipt.issued``,
        in the same transaction: the QR's URL works once the kiosk has synced)."""
        self.db.add_receipt(receipt)
        if receipt.ereceipt_token:
            self.db.emit(events.RECEIPT_ISSUED, issued_payload(receipt),
                         occurred_at=receipt.issued_at)


class SqliteCounters(_Repo):
    def next(self, name: str) -> int:
        return int(self.db.next_counter(name))


class SqliteAudit(_Repo):
    def append(self, *, at: dt.datetime, actor: str, action: str, subject: str = "",
               detail: Mapping[str, Any] | None = None) -> None:
        self.db.audit(at=at, actor=actor, action=action, subject=subject, detail=detail)


class SqliteOutbox(_Repo):
    def emit(self, kind: str, payload: Mapping[str, Any], *, occurred_at: dt.datetime,
             prover: EventProver | None = None) -> str:
        return str(self.db.emit(kind, payload, occurred_at=occurred_at, prover=prover))

    def counts_of_day(self, day: dt.date) -> dict[str, int]:
        rows = self.db.all("SELECT kind, count(*) AS n FROM outbox"
                           " WHERE substr(occurred_at, 1, 10) = ? GROUP BY kind",
                           (day.isoformat(),))
        return {r["kind"]: int(r["n"]) for r in rows}

    def payloads_of_day(self, day: dt.date,
                        kinds: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
        wanted = list(kinds)
        marks = ", ".join("?" for _ in wanted)
        rows = self.db.all(f"SELECT kind, payload FROM outbox WHERE substr(occurred_at, 1, 10) = ?"
                           f" AND kind IN ({marks}) ORDER BY seq", (day.isoformat(), *wanted))
        return [(r["kind"], json.loads(r["payload"])) for r in rows]


class SqliteClosedDays(_Repo):
    def is_closed(self, day: dt.date) -> bool:
        return self.db.one("SELECT 1 FROM days_closed WHERE day = ?",
                           (day.isoformat(),)) is not None

    def close(self, day: str, *, staff_no: str, at: dt.datetime,
              report: Mapping[str, Any]) -> None:
        self.db.insert("days_closed", {"day": day, "staff_no": staff_no, "closed_at": at,
                                       "report": json.dumps(dict(report), sort_keys=True)})


class SqliteUnitOfWork:
    """Every repository over one ``Tx`` (or one read-only view)."""

    def __init__(self, db: Tx | _ReadOnly) -> None:
        self.readers = SqliteReaders(db)
        self.cards = SqliteCards(db)
        self.fees = SqliteFees(db)
        self.payments = SqlitePayments(db)
        self.loans = SqliteLoans(db)
        self.visits = SqliteVisits(db)
        self.staff = SqliteStaff(db)
        self.verifiers = SqliteVerifiers(db)
        self.ils_pins = SqliteIlsPins(db)  # server_client.store.ils_pins
        self.receipts = SqliteReceipts(db)
        self.counters = SqliteCounters(db)
        self.audit = SqliteAudit(db)
        self.outbox = SqliteOutbox(db)
        self.days = SqliteClosedDays(db)


class StoreRepositories:
    """``kiosk.services.ports.Repositories`` over the kiosk's SQLite ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def transaction(self) -> Iterator[SqliteUnitOfWork]:
        with self.store.transaction() as tx:
            yield SqliteUnitOfWork(tx)

    @contextmanager
    def read(self) -> Iterator[SqliteUnitOfWork]:
        yield SqliteUnitOfWork(_ReadOnly(self.store))

    def pulled_fee_schedule(self, on: dt.date | None = None) -> dict[str, Any] | None:
        return self.store.pulled_fee_schedule(on)


__all__ = ["SqliteUnitOfWork", "StoreRepositories"]

"""``Store``: the kiosk's local SQLite store (stdlib sqlite3), used by services and the sync client.

Durability: WAL journal with ``synchronous=FULL``. With WAL, ``NORMAL`` never corrupts the file,
but a power cut can lose the last few commits that were already reported as done; a payment the
reader saw succeed must survive, so every commit fsyncs the WAL (a few ms on a kiosk's SSD).
Foreign keys are on. One connection, shared by all threads behind a re-entrant lock: every public
call is its own transaction, and ``transaction()`` (``BEGIN IMMEDIATE``) is how services group
their writes. Any ``sqlite3.Error`` leaves the store as it was and surfaces as ``StoreError``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from library_core import events
from library_core.clock import Clock
from library_core.codes import format_receipt_no
from library_core.errors import StoreError
from library_core.receipts import Receipt
from server_client.store import audit
from server_client.store.schema import LATEST_VERSION, MIGRATIONS

log = logging.getLogger(__name__)

FaultHook = Callable[[str], None]
"""Called with the SQL before each statement a transaction runs; tests raise from it."""

PUSH_STATUSES = frozenset({"applied", "duplicate", "conflict", "rejected"})
CURSOR_KEY = "pull_cursor"
LAST_SYNC_KEY = "last_sync_at"

# pulled entity -> (table, key column, columns taken from the change's data)
_ENTITY_TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "reader": ("readers", "reader_id", (
        "reader_id", "name", "id_number", "phone", "category", "pin_hash", "status", "credit",
        "registered_at")),
    "card": ("cards", "card_no", (
        "card_no", "reader_id", "uid", "generation", "status", "issued_at", "expires_on")),
    "item": ("items", "barcode", ("barcode", "title", "author", "call_no", "status", "hold")),
    "loan": ("loans", "loan_id", (
        "loan_id", "item_barcode", "reader_id", "borrowed_at", "due_on", "returned_at")),
    "fee": ("fees", "fee_id", (
        "fee_id", "reader_id", "kind", "amount", "paid", "status", "description", "created_at",
        "loan_id", "item_barcode")),
    "staff": ("staff", "staff_no", (
        "staff_no", "name", "role", "pin_hash", "card_no", "active")),
}


def _pulled_value(entity: str, column: str, value: Any) -> Any:
    """A pulled column as the kiosk stores it: card UIDs in the kiosk's lower-case hex (the
    server keeps them upper-case), so a card synced back still matches the one on the reader."""
    if entity == "card" and column == "uid" and isinstance(value, str):
        return value.lower()
    return _sql_value(value)


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


class Tx:
    """One open transaction: the only way services write. Every statement passes the fault hook."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self._store = store
        self.conn = conn

    # -- plain SQL -----------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        self._store._fault(sql)
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk insert (demo data, pulled pages); one fault-hook call for the whole batch."""
        self._store._fault(sql)
        self.conn.executemany(sql, rows)

    def one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        return list(self.execute(sql, params).fetchall())

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                     [_sql_value(v) for v in row.values()])

    def update(self, table: str, key_col: str, key: Any, changes: Mapping[str, Any]) -> int:
        sets = ", ".join(f"{c} = ?" for c in changes)
        cur = self.execute(f"UPDATE {table} SET {sets} WHERE {key_col} = ?",
                           [*(_sql_value(v) for v in changes.values()), key])
        return cur.rowcount

    # -- bookkeeping ---------------------------------------------------------------------------
    def next_counter(self, name: str) -> int:
        """The next value of a gapless counter; committed with the transaction or not at all."""
        self.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1)"
            " ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))
        row = self.one("SELECT value FROM counters WHERE name = ?", (name,))
        assert row is not None
        return int(row[0])

    def audit(self, *, at: dt.datetime, actor: str, action: str, subject: str = "",
              detail: Mapping[str, Any] | None = None) -> int:
        self._store._fault("audit")
        return audit.append(self.conn, at=at.isoformat(), actor=actor, action=action,
                            subject=subject, detail=dict(detail or {}))

    def emit(self, kind: str, payload: Mapping[str, Any], *, occurred_at: dt.datetime) -> str:
        """Queue one outbox event; returns its event_id."""
        if kind not in events.ALL_KINDS:
            raise StoreError("error.store", f"unknown event kind {kind!r}")
        event_id = str(uuid.uuid4())
        seq = self.next_counter("outbox_seq")
        self.insert("outbox", {
            "event_id": event_id, "seq": seq, "kind": kind,
            "occurred_at": occurred_at.isoformat(), "priority": events.priority_of(kind),
            "payload": json.dumps(dict(payload), ensure_ascii=False, sort_keys=True),
            "status": "pending",
        })
        return event_id

    def next_receipt_no(self, day: dt.date) -> str:
        """``K01-20261124-0001``: the daily sequence is stored, so never reused after a restart."""
        seq = self.next_counter(f"receipt:{day.isoformat()}")
        return format_receipt_no(self._store.kiosk_id, day, seq)

    def add_receipt(self, receipt: Receipt) -> None:
        self.insert("receipts", {
            "receipt_no": receipt.receipt_no, "kind": str(receipt.kind),
            "day": receipt.issued_at.date().isoformat(), "issued_at": receipt.issued_at,
            "body": receipt.to_json(), "print_status": "pending",
        })


class Store:
    """The local store. Open with ``Store.open(path, kiosk_id=...)``; it migrates on open."""

    def __init__(self, path: Path | str, *, kiosk_id: str, fault_hook: FaultHook | None = None,
                 timeout_s: float = 10.0) -> None:
        self.path = Path(path) if str(path) != ":memory:" else Path(":memory:")
        self.kiosk_id = kiosk_id
        self.fault_hook = fault_hook
        self._lock = threading.RLock()
        self._tx: Tx | None = None
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        except (sqlite3.Error, OSError) as err:
            raise StoreError("error.store", f"cannot open {path}: {err}") from err
        self.migrate()

    @classmethod
    def open(cls, path: Path | str, *, kiosk_id: str, fault_hook: FaultHook | None = None) -> Store:
        return cls(path, kiosk_id=kiosk_id, fault_hook=fault_hook)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fault(self, step: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(step)

    # -- schema --------------------------------------------------------------------------------
    def schema_version(self) -> int:
        with self._lock:
            try:
                row = self._conn.execute("SELECT max(version) FROM schema_version").fetchone()
            except sqlite3.OperationalError:
                return 0
            return int(row[0] or 0)

    def migrate(self) -> int:
        """Apply every migration step above the stored version, each in its own transaction."""
        with self._lock:
            try:
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                    " description TEXT NOT NULL, applied_at TEXT NOT NULL)")
                current = self.schema_version()
                if current > LATEST_VERSION:
                    raise StoreError("error.store",
                                     f"store schema {current} is newer than this program ({LATEST_VERSION})")
                for version, description, script in MIGRATIONS:
                    if version <= current:
                        continue
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        for statement in _split_sql(script):
                            self._conn.execute(statement)
                        self._conn.execute(
                            "INSERT INTO schema_version VALUES (?, ?, ?)",
                            (version, description, dt.datetime.now(dt.UTC).isoformat()))
                        self._conn.execute("COMMIT")
                    except BaseException:
                        self._conn.execute("ROLLBACK")
                        raise
                    log.info("store %s migrated to schema %d (%s)", self.path, version, description)
            except sqlite3.Error as err:
                raise StoreError("error.store", f"migration failed: {err}") from err
            return self.schema_version()

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls everything back.

        A nested call on the same thread joins the open transaction.
        Raises StoreError for any sqlite3 error (the original is chained).
        """
        with self._lock:
            if self._tx is not None:
                yield self._tx
                return
            tx = Tx(self, self._conn)
            try:
                self._fault("BEGIN")
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StoreError("error.store", f"cannot begin: {err}") from err
            self._tx = tx
            try:
                yield tx
                self._fault("COMMIT")
                self._conn.execute("COMMIT")
            except BaseException as err:
                try:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("rollback failed")
                if isinstance(err, sqlite3.Error):
                    raise StoreError("error.store", str(err)) from err
                raise
            finally:
                self._tx = None

    def read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        """A read-only query in its own snapshot (no fault hook)."""
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as err:
                raise StoreError("error.store", str(err)) from err

    def read_one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Row | None:
        rows = self.read(sql, params)
        return rows[0] if rows else None

    def count(self, table: str, where: str = "1", params: Sequence[Any] = ()) -> int:
        row = self.read_one(f"SELECT count(*) FROM {table} WHERE {where}", params)
        return int(row[0]) if row else 0

    # -- checks --------------------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` plus foreign keys; ``["ok"]`` when all is well."""
        rows = [str(r[0]) for r in self.read("PRAGMA integrity_check")]
        fk = self.read("PRAGMA foreign_key_check")
        if fk:
            rows = [r for r in rows if r != "ok"] + [
                f"foreign key: {tuple(r)}" for r in fk]
        return rows

    def verify_audit_chain(self) -> audit.ChainCheck:
        with self._lock:
            try:
                return audit.verify_chain(self._conn)
            except sqlite3.Error as err:
                raise StoreError("error.store", str(err)) from err

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.read("SELECT id, at, actor, action, subject, detail FROM audit_log"
                         " ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) | {"detail": json.loads(r["detail"])} for r in rows]

    # -- key-value -----------------------------------------------------------------------------
    def get_value(self, key: str) -> str | None:
        row = self.read_one("SELECT value FROM kv WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_value(self, key: str, value: str) -> None:
        with self.transaction() as tx:
            tx.execute("INSERT INTO kv (key, value) VALUES (?, ?)"
                       " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- sync client interface -----------------------------------------------------------------
    def pending_events(self, limit: int) -> list[dict[str, Any]]:
        """Pending outbox envelopes, priority 1 first, then by seq."""
        rows = self.read(
            "SELECT event_id, seq, kind, occurred_at, priority, payload FROM outbox"
            " WHERE status = 'pending' ORDER BY priority DESC, seq LIMIT ?", (limit,))
        return [{
            "event_id": r["event_id"], "kiosk_id": self.kiosk_id, "seq": r["seq"],
            "kind": r["kind"], "occurred_at": r["occurred_at"], "priority": r["priority"],
            "payload": json.loads(r["payload"]),
        } for r in rows]

    def record_push_results(self, results: list[dict[str, Any]]) -> None:
        """Store the server's answer per event; every non-pending status leaves the queue."""
        now = dt.datetime.now(dt.UTC).isoformat()
        with self.transaction() as tx:
            for res in results:
                status = res.get("status")
                if status not in PUSH_STATUSES:
                    log.warning("push result with status %r for %s ignored", status,
                                res.get("event_id"))
                    continue
                n = tx.update("outbox", "event_id", str(res["event_id"]), {
                    "status": status, "detail": str(res.get("detail") or ""),
                    "rule": str(res.get("rule") or ""), "pushed_at": now,
                })
                if n == 0:
                    log.warning("push result for unknown event %s", res.get("event_id"))

    def pending_count(self) -> int:
        return self.count("outbox", "status = 'pending'")

    def problem_events(self) -> list[dict[str, Any]]:
        """Events the server answered with conflict or rejected, for staff to see."""
        rows = self.read(
            "SELECT event_id, seq, kind, occurred_at, payload, status, detail, rule, pushed_at"
            " FROM outbox WHERE status IN ('conflict', 'rejected') ORDER BY seq")
        return [dict(r) | {"payload": json.loads(r["payload"])} for r in rows]

    def last_sync_at(self) -> dt.datetime | None:
        value = self.get_value(LAST_SYNC_KEY)
        return dt.datetime.fromisoformat(value) if value else None

    def set_last_sync(self, when: dt.datetime) -> None:
        self.set_value(LAST_SYNC_KEY, when.isoformat())

    def pull_cursor(self) -> int:
        value = self.get_value(CURSOR_KEY)
        return int(value) if value else 0

    def apply_pulled_page(self, changes: list[dict[str, Any]], next_cursor: int) -> None:
        """Upsert every change by entity, then move the cursor: one transaction, all or nothing."""
        with self.transaction() as tx:
            tx.execute("PRAGMA defer_foreign_keys = ON")
            for change in changes:
                entity = change.get("entity")
                data = change.get("data") or {}
                if entity == "fee_schedule":
                    tx.execute("INSERT INTO fee_schedule (id, data) VALUES (?, ?)"
                               " ON CONFLICT(id) DO UPDATE SET data = excluded.data",
                               (str(change.get("id", "current")), json.dumps(data)))
                    continue
                spec = _ENTITY_TABLES.get(str(entity))
                if spec is None:
                    log.warning("pulled change for unknown entity %r skipped", entity)
                    continue
                table, key, cols = spec
                present = [c for c in cols if c in data]
                if key not in present:
                    raise StoreError("error.store", f"pulled {entity} without {key}")
                values = [_pulled_value(str(entity), c, data[c]) for c in present]
                updates = ", ".join(f"{c} = excluded.{c}" for c in present if c != key)
                tx.execute(
                    f"INSERT INTO {table} ({', '.join(present)}) VALUES"
                    f" ({', '.join('?' for _ in present)})"
                    f" ON CONFLICT({key}) DO UPDATE SET {updates}", values)
            tx.execute("INSERT INTO kv (key, value) VALUES (?, ?)"
                       " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       (CURSOR_KEY, str(int(next_cursor))))

    def pulled_fee_schedule(self) -> dict[str, Any] | None:
        row = self.read_one("SELECT data FROM fee_schedule WHERE id = 'current'")
        return None if row is None else dict(json.loads(row[0]))

    # -- receipt journal -----------------------------------------------------------------------
    def receipts(self, day: dt.date) -> list[Receipt]:
        rows = self.read("SELECT body FROM receipts WHERE day = ? ORDER BY issued_at, receipt_no",
                         (day.isoformat(),))
        return [Receipt.from_json(r[0]) for r in rows]

    def receipt(self, receipt_no: str) -> Receipt | None:
        row = self.read_one("SELECT body FROM receipts WHERE receipt_no = ?", (receipt_no,))
        return None if row is None else Receipt.from_json(row[0])

    def receipt_print_status(self, receipt_no: str) -> tuple[str, str] | None:
        row = self.read_one("SELECT print_status, print_message_id FROM receipts"
                            " WHERE receipt_no = ?", (receipt_no,))
        return None if row is None else (str(row[0]), str(row[1]))

    def mark_printed(self, receipt_no: str, ok: bool, message_id: str = "", *,
                     at: dt.datetime) -> None:
        """Record a print attempt at ``at`` (the caller's clock), after the receipt's own commit.

        A failed attempt keeps the printer's reason (``message_id``); a later good one (a reprint)
        makes the receipt printed. Raises StoreError for an unknown receipt number.
        """
        with self.transaction() as tx:
            n = tx.update("receipts", "receipt_no", receipt_no, {
                "print_status": "printed" if ok else "failed", "print_message_id": message_id,
                "printed_at": at.isoformat() if ok else None,
            })
            if n == 0:
                raise StoreError("error.store", f"no receipt {receipt_no}")

    def unprinted(self) -> list[Receipt]:
        rows = self.read("SELECT body FROM receipts WHERE print_status != 'printed'"
                         " ORDER BY issued_at, receipt_no")
        return [Receipt.from_json(r[0]) for r in rows]

    def journal_entries(self, *, unprinted_only: bool = False,
                        limit: int = 50) -> list[JournalEntry]:
        """Receipts for the staff reprint list: unprinted ones (failed, pending) first, oldest
        first; then, unless ``unprinted_only``, the latest printed ones, newest first."""
        cols = ("SELECT receipt_no, kind, issued_at, print_status, print_message_id"
                " FROM receipts")
        rows = self.read(f"{cols} WHERE print_status != 'printed'"
                         " ORDER BY issued_at, receipt_no LIMIT ?", (limit,))
        if not unprinted_only and len(rows) < limit:
            rows += self.read(f"{cols} WHERE print_status = 'printed'"
                              " ORDER BY issued_at DESC, receipt_no DESC LIMIT ?",
                              (limit - len(rows),))
        return [JournalEntry(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]))
                for r in rows]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One receipt in the journal and its last print result (``pending``/``printed``/``failed``)."""

    receipt_no: str
    kind: str
    issued_at: str
    print_status: str
    message_id: str

    @property
    def printed(self) -> bool:
        return self.print_status == "printed"


class StoreReceiptJournal:
    """``devices.printer.ReceiptJournal`` over the store: each print result is recorded on the
    receipt's journal row, stamped by the injected clock."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def record_print(self, receipt: Receipt, result: PrintResultLike) -> None:
        """Raises StoreError when the receipt is not in the journal."""
        self.store.mark_printed(receipt.receipt_no, bool(result.ok),
                                "" if result.ok else (result.message_id or "printer.error"),
                                at=self.clock.now())


class PrintResultLike(Protocol):
    """What the journal reads from ``devices.printer.PrintResult``."""

    @property
    def ok(self) -> bool: ...

    @property
    def message_id(self) -> str: ...


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (our scripts hold no ';' inside literals)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]

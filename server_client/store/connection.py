"""The store's connection, migrations and transactions (``StoreCore``, ``Tx``).

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
from pathlib import Path
from typing import Any

from library_core import events
from library_core.codes import format_receipt_no
from library_core.contract import CONTRACT_VERSION, ContractError, validate_event
from library_core.errors import StoreError
from library_core.receipts import Receipt
from server_client.store import audit, staff_proof
from server_client.store.schema import LATEST_VERSION, MIGRATIONS, VACUUM_AFTER

log = logging.getLogger(__name__)

FaultHook = Callable[[str], None]
"""Called with the SQL before each statement a transaction runs; tests raise from it."""


class InvalidEvent(StoreError):
    """An event the sync contract refuses (unknown kind, wrong type, missing field, wrong
    contract version); ``detail`` names the field. Raised inside the use case's transaction."""

    message_id = "error.store.contract"


def sql_value(value: Any) -> Any:
    """A Python value as SQLite keeps it: booleans 0/1, dates and times ISO strings."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


class Tx:
    """One open transaction: the only way services write. Every statement passes the fault hook."""

    def __init__(self, store: StoreCore, conn: sqlite3.Connection) -> None:
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
                     [sql_value(v) for v in row.values()])

    def update(self, table: str, key_col: str, key: Any, changes: Mapping[str, Any]) -> int:
        sets = ", ".join(f"{c} = ?" for c in changes)
        cur = self.execute(f"UPDATE {table} SET {sets} WHERE {key_col} = ?",
                           [*(sql_value(v) for v in changes.values()), key])
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

    def emit(self, kind: str, payload: Mapping[str, Any], *, occurred_at: dt.datetime,
             contract_version: int = CONTRACT_VERSION, prover: Any = None) -> str:
        """Queue one outbox event, checked against the sync contract; returns its event_id.

        Raises ``InvalidEvent`` (a StoreError) for an event the contract refuses: the
        caller's transaction rolls back with it, so the use case leaves nothing behind.
        ``prover`` (``kiosk.services.ports.EventProver``): the staff proof over the event's
        canonical bytes, made now and stored with it (``staff_proof.prove``; raises
        ``OfflineStaffRefused`` for an offline action its policy does not allow).
        """
        if kind not in events.ALL_KINDS:
            raise InvalidEvent("error.store.contract", f"unknown event kind {kind!r}")
        event_id = str(uuid.uuid4())
        seq = self.next_counter("outbox_seq")
        envelope = {
            "event_id": event_id, "kiosk_id": self._store.kiosk_id, "seq": seq, "kind": kind,
            "occurred_at": occurred_at.isoformat(), "priority": events.priority_of(kind),
            "contract_version": contract_version, "payload": dict(payload),
        }
        try:
            validate_event(envelope)
        except ContractError as err:
            log.error("event %s refused at the outbox: %s", kind, err.reason)
            raise InvalidEvent("error.store.contract", f"{kind}: {err.reason}") from err
        proof = None if prover is None else staff_proof.prove(self, prover, envelope)
        self.insert("outbox", {
            "event_id": event_id, "seq": seq, "kind": kind, "occurred_at": envelope["occurred_at"],
            "priority": envelope["priority"], "contract_version": contract_version,
            "payload": json.dumps(envelope["payload"], ensure_ascii=False, sort_keys=True),
            "status": "pending", **({"staff_proof": proof} if proof else {}),
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


class StoreCore:
    """The connection, migrations, transactions, plain reads, checks and the key-value table."""

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
            self._conn.execute("PRAGMA secure_delete = ON")  # nothing deleted lingers on disk
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        except (sqlite3.Error, OSError) as err:
            raise StoreError("error.store", f"cannot open {path}: {err}") from err
        self.migrate()

    @classmethod
    def open(cls, path: Path | str, *, kiosk_id: str,
             fault_hook: FaultHook | None = None) -> Any:
        return cls(path, kiosk_id=kiosk_id, fault_hook=fault_hook)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Any:
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
                vacuum = False
                for version, description, script in MIGRATIONS:
                    if version <= current:
                        continue
                    vacuum = vacuum or (current > 0 and version in VACUUM_AFTER)
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
                if vacuum:  # values a step dropped leave no trace in free pages or the WAL
                    self._conn.execute("VACUUM")
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (our scripts hold no ';' inside literals)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]

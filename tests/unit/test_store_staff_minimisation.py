"""A kiosk store from before the staff-authority step (issue 11.3: staff rows with PIN hash and
PIN bookkeeping) migrates to ``STAFF_AUTHORITY_VERSION``: the columns are gone, the hash is not
left in the file (vacuumed), the staff rows stay, and the outbox and verifier tables are ready."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server_client.store import Store
from server_client.store.connection import _split_sql
from server_client.store.schema import MIGRATIONS, STAFF_AUTHORITY_VERSION

PIN_HASH = "scrypt$16384$8$1$c3RhZmZzYWx0$ZmVlZGZhY2VmZWVkZmFjZQ"


def _old_store(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                 " description TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for version, description, script in MIGRATIONS:
        if version >= STAFF_AUTHORITY_VERSION:
            break
        for statement in _split_sql(script):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, 'then')", (version, description))
    conn.execute("INSERT INTO staff (staff_no, name, role, pin_hash, card_no, active,"
                 " pin_failures) VALUES ('S0001', '王芳', 'desk', ?, '20000000000014', 1, 3)",
                 (PIN_HASH,))
    conn.close()


def _bytes(path: Path) -> bytes:
    """The database file and its WAL, if any."""
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_an_old_store_loses_every_staff_pin_hash(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _old_store(path)
    assert PIN_HASH.encode() in _bytes(path)  # the old file holds it (so the check can fail)
    store = Store.open(path, kiosk_id="K01")
    try:
        assert store.schema_version() >= STAFF_AUTHORITY_VERSION
        columns = {r[1] for r in store.read("PRAGMA table_info(staff)")}
        assert {"pin_hash", "pin_failures", "locked_until"}.isdisjoint(columns)
        assert [tuple(r) for r in store.read("SELECT staff_no, name, role FROM staff")] == [
            ("S0001", "王芳", "desk")]
        assert "staff_proof" in {r[1] for r in store.read("PRAGMA table_info(outbox)")}
        assert store.count("staff_verifiers") == 0
    finally:
        store.close()
    assert PIN_HASH.encode() not in _bytes(path)

"""A kiosk store from before issue 11.3 (schema 3, readers with the clear ID number, phone and
PIN hash) migrates to schema 4: keyed hash and masked forms only, the clear values gone from the
file, pushed registrations scrubbed, the pull cursor back to zero so the next pull refills the
hashes; a registration still waiting keeps what the server needs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from server_client.store import Store
from server_client.store.connection import _split_sql
from server_client.store.schema import LATEST_VERSION, MIGRATIONS

ID_NUMBER, PHONE, PIN_HASH = "110105199003070017", "13800000001", "scrypt$16$8$1$ab$cdef01"
WAITING_ID, WAITING_PHONE = "110105199003070025", "13800000002"


def _old_store(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                 " description TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for version, description, script in MIGRATIONS[:3]:
        for statement in _split_sql(script):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, 'then')", (version, description))
    for reader_id, id_number, phone in (("r1", ID_NUMBER, PHONE), ("r2", WAITING_ID, WAITING_PHONE)):
        conn.execute("INSERT INTO readers (reader_id, name, id_number, phone, category, pin_hash,"
                     " status, credit, registered_at, pin_failures) VALUES"
                     " (?, '王伟', ?, ?, 'adult', ?, 'active', 0, '2026-11-01T10:00:00+08:00', 2)",
                     (reader_id, id_number, phone, PIN_HASH))
    for seq, (reader_id, id_number, phone, status) in enumerate(
            (("r1", ID_NUMBER, PHONE, "applied"), ("r2", WAITING_ID, WAITING_PHONE, "pending")), 1):
        payload = {"reader_id": reader_id, "name": "王伟", "id_number": id_number,
                   "phone": phone, "category": "adult", "pin_hash": PIN_HASH,
                   "registered_at": "2026-11-01T10:00:00+08:00"}
        conn.execute("INSERT INTO outbox (event_id, seq, kind, occurred_at, payload, status)"
                     " VALUES (?, ?, 'reader.registered', 'then', ?, ?)",
                     (f"e{seq}", seq, json.dumps(payload), status))
    conn.execute("INSERT INTO kv VALUES ('pull_cursor', '42')")
    conn.close()


def test_an_old_store_keeps_only_hashes_and_masks(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _old_store(path)
    store = Store.open(path, kiosk_id="K01")
    try:
        assert store.schema_version() == LATEST_VERSION  # through 4 and every later step
        rows = [dict(r) for r in store.read("SELECT * FROM readers ORDER BY reader_id")]
        assert set(rows[0]) == {"reader_id", "name", "category", "status", "credit",
                                "registered_at", "id_hash", "id_masked", "phone_masked"}
        assert (rows[0]["id_masked"], rows[0]["phone_masked"]) == ("110***********0017",
                                                                   "138****0001")
        assert rows[0]["id_hash"] is None  # refilled by the next pull, from zero:
        assert store.pull_cursor() == 0
        pushed, waiting = (json.loads(r[0]) for r in store.read(
            "SELECT payload FROM outbox ORDER BY seq"))
        assert "pin_hash" not in pushed and pushed["id_number"] == "110***********0017"
        assert pushed["phone"] == "138****0001"
        assert waiting["id_number"] == WAITING_ID and waiting["pin_hash"] == PIN_HASH
        assert store.integrity_check() == ["ok"]
    finally:
        store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("old"))
    assert ID_NUMBER.encode() not in raw and PHONE.encode() not in raw

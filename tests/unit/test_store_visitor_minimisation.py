"""A kiosk store from before visitor minimisation (schema 8: visitors with the clear phone and ID
number) migrates to 9: the visitors table and the answered visit.opened events keep the masked
forms only, a visit still waiting to be pushed keeps what the server needs, and the clear values
are gone from the file (vacuumed)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from server_client.store import Store
from server_client.store.connection import _split_sql
from server_client.store.schema import LATEST_VERSION, MIGRATIONS, VISITORS_MASKED_VERSION

PHONE, ID_NUMBER = "13911112222", "110105199003070017"
WAITING_PHONE = "13933334444"


def _store_before(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                 " description TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for version, description, script in MIGRATIONS:
        if version >= VISITORS_MASKED_VERSION:
            break
        for statement in _split_sql(script):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, 'then')", (version, description))
    for no, (phone, id_number, status) in enumerate(
            ((PHONE, ID_NUMBER, "applied"), (WAITING_PHONE, None, "pending")), 1):
        visit_id = f"K01-V{no:06d}"
        conn.execute("INSERT INTO visitors (visit_id, visit_no, name, phone, id_number, purpose,"
                     " host_department, consent_at, opened_at, expires_at, pass_token) VALUES"
                     " (?, ?, '访客', ?, ?, 'reading', 'office', 'then', 'then', 'later', 'p')",
                     (visit_id, no, phone, id_number))
        payload = {"visit_id": visit_id, "name": "访客", "phone": phone, "id_number": id_number,
                   "purpose": "reading", "host_department": "office", "expires_at": "later"}
        conn.execute("INSERT INTO outbox (event_id, seq, kind, occurred_at, payload, status)"
                     " VALUES (?, ?, 'visit.opened', 'then', ?, ?)",
                     (f"e{no}", no, json.dumps(payload), status))
    conn.close()


def test_an_old_store_keeps_visitors_masked(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _store_before(path)
    store = Store.open(path, kiosk_id="K01")
    try:
        assert store.schema_version() == LATEST_VERSION
        rows = [tuple(r) for r in store.read("SELECT phone, id_number FROM visitors"
                                             " ORDER BY visit_no")]
        assert rows == [("139****2222", "110***********0017"), ("139****4444", None)]
        pushed, waiting = (json.loads(r[0]) for r in store.read(
            "SELECT payload FROM outbox ORDER BY seq"))
        assert (pushed["phone"], pushed["id_number"]) == ("139****2222", "110***********0017")
        assert (waiting["phone"], waiting["id_number"]) == (WAITING_PHONE, None)
        assert store.integrity_check() == ["ok"]
    finally:
        store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("old"))
    assert PHONE.encode() not in raw and ID_NUMBER.encode() not in raw

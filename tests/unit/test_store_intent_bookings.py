"""A kiosk store from before the payment recovery booked unapplied payments (schema 9) migrates
to 10: every payment intent is kept as it was (an open one is still recovered), the new state
``unapplied`` is accepted and an unknown state still refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from library_core.errors import StoreError
from server_client.store import Store
from server_client.store.connection import _split_sql
from server_client.store.intents import IntentStore
from server_client.store.schema import INTENT_BOOKINGS_VERSION, LATEST_VERSION, MIGRATIONS
from tests.support.services import START

INTENTS = (("LK000012611240000000112AB", "open", ""),
           ("LK000012611240000000212AB", "refund_failed", "4200000000000002"),
           ("LK000012611240000000312AB", "booked", "4200000000000003"))


def _store_before(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                 " description TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for version, description, script in MIGRATIONS:
        if version >= INTENT_BOOKINGS_VERSION:
            break
        for statement in _split_sql(script):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, ?, 'then')", (version, description))
    for otn, state, tid in INTENTS:
        conn.execute("INSERT INTO payment_intents (out_trade_no, provider, amount, reference,"
                     " state, transaction_id, detail, created_at, updated_at) VALUES"
                     " (?, 'wechat', 1500, 'fees:R1', ?, ?, 'before', ?, ?)",
                     (otn, state, tid, START.isoformat(), START.isoformat()))
    conn.close()


def test_an_old_store_keeps_its_intents_and_takes_the_new_state(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _store_before(path)
    store = Store.open(path, kiosk_id="K01")
    try:
        assert store.schema_version() == LATEST_VERSION
        intents = IntentStore(store)
        assert [(i.out_trade_no, i.state, i.transaction_id, i.detail, i.payment_id)
                for i in intents.all()] == [(otn, state, tid, "before", "")
                                            for otn, state, tid in INTENTS]
        assert [i.state for i in intents.unfinished()] == ["open", "refund_failed"]
        intents.move(INTENTS[1][0], "unapplied", at=START)
        assert [i.state for i in intents.unfinished()] == ["open", "unapplied"]
        with pytest.raises(StoreError, match="CHECK"):
            intents.move(INTENTS[0][0], "kept", at=START)
        assert store.integrity_check() == ["ok"]
    finally:
        store.close()

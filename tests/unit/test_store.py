"""The local store: schema and pragmas, audit chain, outbox and the sync interface, receipt
journal, demo data. Real SQLite files in tmp_path."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from library_core.clock import CHINA_TZ
from library_core.errors import StoreError
from library_core.receipts import Receipt, ReceiptKind
from server_client import demo_data
from server_client.store import Store
from server_client.store.schema import LATEST_VERSION

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ)
# payloads that pass the sync contract (Tx.emit checks every event)
BLOCKED = {"card_no": "20000000000014", "reader_id": "r1", "reason": "lost"}
ISSUED = {"card_no": "20000000000014", "reader_id": "r1", "uid": "0a0b0c0d", "generation": 1,
          "expires_on": "2029-11-24"}
PAID = {"payment_id": "p1", "receipt_no": "K01-20261124-0001", "method": "cash", "amount": 100,
        "allocations": []}
VISIT = {"visit_id": "v1", "name": "访客", "phone": "13900001111", "purpose": "reading",
         "host_department": "reading_room", "expires_at": NOW.isoformat()}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "k.sqlite3", kiosk_id="K01")
    yield s
    s.close()


def test_pragmas_and_schema(store: Store) -> None:
    assert store.read_one("PRAGMA journal_mode")[0] == "wal"
    assert store.read_one("PRAGMA synchronous")[0] == 2  # FULL
    assert store.read_one("PRAGMA foreign_keys")[0] == 1
    assert store.schema_version() == LATEST_VERSION
    assert store.integrity_check() == ["ok"]
    assert store.migrate() == LATEST_VERSION  # idempotent


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path / "k.db", kiosk_id="K01").close()
    con = sqlite3.connect(tmp_path / "k.db")
    con.execute("INSERT INTO schema_version VALUES (99, 'future', 'x')")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(tmp_path / "k.db", kiosk_id="K01")


def _audit(store: Store, n: int) -> None:
    with store.transaction() as tx:
        for i in range(n):
            tx.audit(at=NOW, actor="S0001", action="test", subject=str(i), detail={"i": i})


def _raw(store: Store, sql: str, *params: object) -> None:
    con = sqlite3.connect(store.path)
    con.execute(sql, params)
    con.commit()
    con.close()


def test_audit_chain_verifies_and_detects_edit(store: Store) -> None:
    _audit(store, 5)
    assert store.verify_audit_chain().ok and store.verify_audit_chain().rows == 5
    _raw(store, "UPDATE audit_log SET actor = 'S0002' WHERE id = 3")
    check = store.verify_audit_chain()
    assert not check.ok and check.bad_id == 3 and check.reason == "row was edited"


def test_audit_chain_detects_deleted_row(store: Store) -> None:
    _audit(store, 5)
    _raw(store, "DELETE FROM audit_log WHERE id = 2")
    assert not store.verify_audit_chain().ok


def test_audit_chain_detects_last_row_removed(store: Store) -> None:
    _audit(store, 5)
    _raw(store, "DELETE FROM audit_log WHERE id = 5")
    check = store.verify_audit_chain()
    assert not check.ok and "removed" in check.reason


def test_audit_chain_detects_inserted_row(store: Store) -> None:
    _audit(store, 3)
    row = store.read_one("SELECT * FROM audit_log WHERE id = 3")
    _raw(store, "UPDATE audit_log SET id = 4 WHERE id = 3")
    _raw(store, "INSERT INTO audit_log VALUES (3, ?, 'x', 'forged', '', '{}', ?, ?)",
         row["at"], row["prev_hash"], row["hash"])
    assert not store.verify_audit_chain().ok


def test_transaction_rolls_back_everything_and_wraps_errors(store: Store) -> None:
    with pytest.raises(StoreError) as info, store.transaction() as tx:
        tx.emit("card.blocked", BLOCKED, occurred_at=NOW)
        tx.audit(at=NOW, actor="a", action="b")
        tx.execute("INSERT INTO nonsense VALUES (1)")
    assert isinstance(info.value.__cause__, sqlite3.Error)
    assert store.pending_count() == 0 and store.count("audit_log") == 0
    assert store.read_one("SELECT value FROM counters WHERE name = 'outbox_seq'") is None
    with pytest.raises(StoreError, match="unknown event kind"), store.transaction() as tx:
        tx.emit("made.up", {}, occurred_at=NOW)


def test_outbox_order_push_results_and_problem_list(store: Store) -> None:
    with store.transaction() as tx:
        a = tx.emit("card.issued", ISSUED, occurred_at=NOW)
        b = tx.emit("payment.recorded", PAID, occurred_at=NOW)
        c = tx.emit("card.blocked", BLOCKED, occurred_at=NOW)
    pending = store.pending_events(10)
    assert [e["event_id"] for e in pending] == [c, a, b]  # priority 1 first, then seq
    assert pending[0] == {"event_id": c, "kiosk_id": "K01", "seq": 3, "kind": "card.blocked",
                          "occurred_at": NOW.isoformat(), "priority": 1, "contract_version": 2,
                          "payload": BLOCKED}
    assert store.pending_events(1)[0]["event_id"] == c
    store.record_push_results([
        {"event_id": c, "status": "applied"},
        {"event_id": a, "status": "conflict", "detail": "card lost", "rule": "lost_beats_renewal"},
        {"event_id": "nope", "status": "applied"},
        {"event_id": b, "status": "pending"},  # not an answer: stays queued
    ])
    assert store.pending_count() == 1 and store.pending_events(5)[0]["event_id"] == b
    problems = store.problem_events()
    assert [(p["event_id"], p["rule"]) for p in problems] == [(a, "lost_beats_renewal")]


def test_sync_bookkeeping(store: Store) -> None:
    assert store.last_sync_at() is None and store.pull_cursor() == 0
    store.set_last_sync(NOW)
    assert store.last_sync_at() == NOW


def test_apply_pulled_page_stores_what_it_can(store: Store) -> None:
    reader = {"reader_id": "r1", "name": "王伟", "id_hash": "a" * 64,
              "id_masked": "110***********0017", "phone_masked": "138****0001",
              "category": "adult", "status": "active", "credit": 0,
              "registered_at": NOW.isoformat()}
    card = {"card_no": "20000000000014", "reader_id": "r1", "uid": "0a0b0c0d", "generation": 1,
            "status": "active", "issued_at": NOW.isoformat(), "expires_on": "2029-01-01"}
    # card before its reader in the page: foreign keys are checked at commit
    store.apply_pulled_page([{"seq": 1, "entity": "card", "id": "20000000000014", "data": card},
                             {"seq": 2, "entity": "reader", "id": "r1", "data": reader},
                             {"seq": 3, "entity": "item", "id": "b", "data": {
                                 "barcode": "30000000000012", "title": "T", "author": "",
                                 "call_no": "", "status": "available", "hold": True}},
                             {"seq": 4, "entity": "fee_schedule", "id": "current",
                              "data": {"renewal_fee": 1000}}], 4)
    assert store.pull_cursor() == 4 and store.count("readers") == 1
    assert store.read_one("SELECT hold FROM items")[0] == 1
    assert store.pulled_fee_schedule() == {"renewal_fee": 1000}
    # an update keeps local bookkeeping (a card's blocked_at)
    store.read("UPDATE cards SET blocked_at = 'then'")
    store.apply_pulled_page([{"seq": 5, "entity": "card", "id": "20000000000014",
                              "data": {**card, "status": "lost"}},
                             {"seq": 6, "entity": "reader", "id": "r1",
                              "data": {**reader, "phone_masked": "139****0002"}}], 6)
    assert tuple(store.read_one("SELECT status, blocked_at FROM cards")) == ("lost", "then")
    assert store.read_one("SELECT phone_masked FROM readers")[0] == "139****0002"
    # a page holding a row the kiosk cannot store (a loan for an unknown reader) stores the
    # rest and moves the cursor; that row is set aside with its reason (issue 10: one bad row
    # used to stop the replica for good)
    store.apply_pulled_page([{"seq": 7, "entity": "card", "id": "20000000000014",
                              "data": {**card, "status": "active"}},
                             {"seq": 8, "entity": "loan", "id": "l", "data": {
                                 "loan_id": "l", "item_barcode": "30000000000012",
                                 "reader_id": "ghost", "borrowed_at": "x", "due_on": "y",
                                 "returned_at": None}}], 8)
    assert store.pull_cursor() == 8 and store.read_one("SELECT status FROM cards")[0] == "active"
    assert store.count("loans") == 0
    [aside] = store.quarantined_rows()
    assert (aside.seq, aside.entity, aside.entity_id) == (8, "loan", "l")
    assert aside.reason == "missing parent: readers.reader_id = ghost"


def test_receipt_numbers_and_journal(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    store = Store.open(path, kiosk_id="K07")
    day = NOW.date()

    def issue() -> str:
        with store.transaction() as tx:
            no = tx.next_receipt_no(day)
            tx.add_receipt(Receipt(no, ReceiptKind.PAYMENT, "K07", NOW, total=100))
        return no

    assert [issue(), issue()] == ["K07-20261124-0001", "K07-20261124-0002"]
    with pytest.raises(StoreError), store.transaction() as tx:  # a rolled-back number...
        tx.next_receipt_no(day)
        raise sqlite3.OperationalError("boom")
    store.close()
    store = Store.open(path, kiosk_id="K07")  # ...and a restart never reuse or skip one
    assert issue() == "K07-20261124-0003"
    assert [r.receipt_no for r in store.receipts(day)] == [
        "K07-20261124-0001", "K07-20261124-0002", "K07-20261124-0003"]
    assert store.receipt("K07-20261124-0002").total == 100
    store.mark_printed("K07-20261124-0001", True, at=NOW)
    store.mark_printed("K07-20261124-0002", False, "printer.paper_out", at=NOW)
    assert store.receipt_print_status("K07-20261124-0002") == ("failed", "printer.paper_out")
    assert [r.receipt_no for r in store.unprinted()] == ["K07-20261124-0002", "K07-20261124-0003"]
    with pytest.raises(StoreError):
        store.mark_printed("K07-20261124-0099", True, at=NOW)
    store.close()


def test_threads_share_the_store_safely(store: Store) -> None:
    def work() -> None:
        for _ in range(50):
            with store.transaction() as tx:
                tx.emit("visit.opened", VISIT, occurred_at=NOW)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [r[0] for r in store.read("SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(1, 201))


def test_demo_data_is_deterministic_and_plausible(tmp_path: Path) -> None:
    profile = demo_data.load_profile()
    a = demo_data.build_demo_rows(profile, pin_n=1 << 4)
    b = demo_data.build_demo_rows(profile, pin_n=1 << 4)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "pin_hash"} for r in rows]  # noqa: E731
    assert strip(a.readers) == strip(b.readers) and a.items == b.items and a.loans == b.loans
    assert len(a.readers) >= 200 and len(a.items) >= 1000
    store = Store.open(tmp_path / "demo.db", kiosk_id="K01")
    counts = demo_data.load_rows(store, a)
    assert counts["staff"] == 2
    roles = dict(store.read("SELECT staff_no, role FROM staff"))
    assert roles == {"S0001": "desk", "S0002": "supervisor"}
    overdue = store.count("loans", "returned_at IS NULL AND due_on < ?", (profile.today.isoformat(),))
    assert 0 < overdue < profile.open_loans
    # readers as a kiosk holds them: keyed hash and masked forms of valid numbers
    from config.settings import DEMO_LIBRARY_KEY
    from library_core.identity import (
        id_number_hash,
        mask_mobile,
        mask_resident_id,
        validate_mobile,
        validate_resident_id,
    )
    kiosk_rows = {r[0]: tuple(r[1:]) for r in store.read(
        "SELECT reader_id, id_hash, id_masked, phone_masked FROM readers")}
    for r in a.readers:
        validate_resident_id(r["id_number"])
        validate_mobile(r["phone"])
        assert kiosk_rows[r["reader_id"]] == (
            id_number_hash(r["id_number"], DEMO_LIBRARY_KEY.encode()),
            mask_resident_id(r["id_number"]), mask_mobile(r["phone"]))
    assert store.count("items", "status = 'on_loan'") == profile.open_loans
    assert store.integrity_check() == ["ok"] and store.verify_audit_chain().ok
    store.close()


def test_demo_profile_rejects_unknown_key(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("seed = 1\nreaderz = 3\n")
    from library_core.errors import ConfigError
    with pytest.raises(ConfigError, match="readerz"):
        demo_data.load_profile(bad)


def test_pulled_card_uid_is_stored_as_the_kiosk_writes_it(store: Store) -> None:
    """The server keeps UIDs upper-case; the kiosk compares ``uid.hex()``: a card synced back
    must still match the card on the reader."""
    store.apply_pulled_page([
        {"seq": 1, "entity": "reader", "id": "r1", "data": {
            "reader_id": "r1", "name": "甲", "id_hash": "b" * 64, "id_masked": "*",
            "phone_masked": "*", "category": "adult", "status": "active", "credit": 0,
            "registered_at": NOW.isoformat()}},
        {"seq": 2, "entity": "card", "id": "C1", "data": {
            "card_no": "C1", "reader_id": "r1", "uid": "04A1B2C3", "generation": 1,
            "status": "active", "issued_at": NOW.isoformat(), "expires_on": "2029-11-24"}},
    ], 2)
    assert store.read_one("SELECT uid FROM cards WHERE card_no = 'C1'")[0] == bytes.fromhex(
        "04A1B2C3").hex()

"""The replica (issue 10): card blocks first in their own transaction; rows the kiosk cannot
store are set aside with their reason and never hold the cursor back; a row set aside for a
missing parent is stored once the parent comes; a hostile row is refused with a clear reason
and changes nothing else. Real SQLite files in tmp_path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from library_core.clock import CHINA_TZ
from library_core.contract import ENTITY_KEYS, ContractError, validate_entity
from library_core.errors import StoreError
from server_client.store import Store

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ)
READER = {"reader_id": "r1", "name": "王伟", "id_hash": "a" * 64,
          "id_masked": "110***********0017", "phone_masked": "138****0001", "category": "adult",
          "status": "active", "credit": 0, "registered_at": NOW.isoformat()}
CARD = {"card_no": "20000000000014", "reader_id": "r1", "uid": "0A0B0C0D", "generation": 1,
        "status": "active", "issued_at": NOW.isoformat(), "expires_on": "2029-11-24"}
ITEM = {"barcode": "30000000000012", "title": "围城", "author": "", "call_no": "",
        "status": "available", "hold": False}


def change(seq: int, entity: str, data: dict[str, Any]) -> dict[str, Any]:
    key = {"reader": "reader_id", "card": "card_no", "item": "barcode", "loan": "loan_id",
           "fee": "fee_id", "staff": "staff_no"}[entity]
    return {"seq": seq, "entity": entity, "id": str(data[key]), "data": data}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "k.sqlite3", kiosk_id="K01")
    s.apply_pulled_page([change(1, "reader", READER), change(2, "card", CARD)], 2)
    yield s
    s.close()


def test_a_card_block_commits_first_even_when_the_rest_of_the_page_fails(store: Store) -> None:
    def fail_on_cursor(sql: str) -> None:
        if "INSERT INTO kv" in sql:
            raise OSError("disk full")

    store.fault_hook = fail_on_cursor
    with pytest.raises(OSError):
        store.apply_pulled_page([change(3, "item", ITEM),
                                 change(4, "card", {**CARD, "status": "lost"})], 4)
    store.fault_hook = None
    assert store.read_one("SELECT status FROM cards")[0] == "lost"  # the block took effect
    assert store.count("items") == 0 and store.pull_cursor() == 2  # the rest did not


@pytest.mark.parametrize(("bad", "reason"), [
    ({**CARD, "generation": 0}, "card.generation"),
    ({**CARD, "status": "stolen"}, "card.status"),
    ({**CARD, "generation": "2"}, "card.generation"),
    ({**CARD, "uid": "0A\x1b"}, "card.uid"),
    ({k: v for k, v in CARD.items() if k != "reader_id"}, "card.reader_id"),
])
def test_a_row_the_contract_refuses_is_set_aside_and_the_rest_applies(
        store: Store, bad: dict[str, Any], reason: str) -> None:
    store.apply_pulled_page([change(3, "card", bad), change(4, "item", ITEM)], 4)
    assert store.pull_cursor() == 4 and store.count("items") == 1
    assert tuple(store.read_one("SELECT generation, status, uid FROM cards")) == (
        1, "active", "0a0b0c0d")  # the stored card is as it was
    [aside] = store.quarantined_rows()
    assert (aside.entity, aside.entity_id, aside.seq) == ("card", "20000000000014", 3)
    assert aside.reason.startswith(reason) and not aside.reported


def test_an_unknown_entity_and_a_non_object_are_set_aside(store: Store) -> None:
    store.apply_pulled_page([{"seq": 3, "entity": "wizard", "id": "w", "data": {}},
                             {"seq": 4, "entity": "item", "id": "x", "data": "nope"}], 4)
    assert store.pull_cursor() == 4
    assert {(q.entity, q.reason) for q in store.quarantined_rows()} == {
        ("wizard", "unknown entity 'wizard'"), ("item", "item: data is not an object")}


def test_a_staff_card_number_already_used_is_set_aside(store: Store) -> None:
    staff = {"staff_no": "S0001", "name": "王芳", "role": "desk", "pin_hash": "scrypt$x",
             "card_no": "20000000000022", "active": True}
    store.apply_pulled_page([change(3, "staff", staff)], 3)
    store.apply_pulled_page([change(4, "staff", {**staff, "staff_no": "S0002"}),
                             change(5, "item", ITEM)], 5)
    assert store.pull_cursor() == 5 and store.count("items") == 1 and store.count("staff") == 1
    [aside] = store.quarantined_rows()
    assert aside.entity_id == "S0002" and "UNIQUE constraint failed: staff.card_no" in aside.reason


def test_a_row_set_aside_for_a_missing_parent_is_stored_when_the_parent_comes(
        store: Store) -> None:
    loan = {"loan_id": "l1", "item_barcode": ITEM["barcode"], "reader_id": "r1",
            "borrowed_at": NOW.isoformat(), "due_on": "2026-12-24", "returned_at": None}
    store.apply_pulled_page([change(3, "loan", loan)], 3)
    [aside] = store.quarantined_rows()
    assert aside.reason == "missing parent: items.barcode = 30000000000012"
    store.apply_pulled_page([change(4, "item", ITEM)], 4)
    assert store.count("loans") == 1 and store.quarantined_rows() == []


def test_a_later_good_version_takes_a_row_out_of_quarantine(store: Store) -> None:
    store.apply_pulled_page([change(3, "card", {**CARD, "generation": 0})], 3)
    assert len(store.quarantined_rows()) == 1
    store.apply_pulled_page([change(4, "card", {**CARD, "generation": 2})], 4)
    assert store.quarantined_rows() == []
    assert store.read_one("SELECT generation FROM cards")[0] == 2


def test_reports_go_once_and_a_new_reason_is_reported_again(store: Store) -> None:
    store.apply_pulled_page([change(3, "card", {**CARD, "generation": 0})], 3)
    [report] = store.unreported_quarantine()
    assert report["entity"] == "card" and report["seq"] == 3
    store.mark_quarantine_reported([report], at=NOW)
    assert store.unreported_quarantine() == [] and store.quarantined_rows()[0].reported
    store.apply_pulled_page([change(4, "card", {**CARD, "status": "stolen"})], 4)
    assert [r["seq"] for r in store.unreported_quarantine()] == [4]


def test_a_failing_store_keeps_the_cursor(store: Store) -> None:
    def fail(sql: str) -> None:
        if sql.startswith("INSERT INTO items"):
            raise StoreError("error.store", "simulated")

    store.fault_hook = fail
    with pytest.raises(StoreError):
        store.apply_pulled_page([change(3, "item", ITEM)], 3)
    store.fault_hook = None
    assert store.pull_cursor() == 2 and store.quarantined_rows() == []


def test_a_child_of_a_row_set_aside_is_set_aside_too(store: Store) -> None:
    reader = {**READER, "reader_id": "r2", "category": "wizard"}
    card = {**CARD, "card_no": "20000000000022", "reader_id": "r2"}
    store.apply_pulled_page([change(3, "reader", reader), change(4, "card", card),
                             change(5, "item", ITEM)], 5)
    assert store.pull_cursor() == 5 and store.count("items") == 1 and store.count("cards") == 1
    reasons = {q.entity: q.reason for q in store.quarantined_rows()}
    assert reasons["reader"].startswith("reader.category")
    assert reasons["card"] == "missing parent: readers.reader_id = r2"


def test_a_long_page_sets_aside_exactly_the_rows_refused_with_the_contracts_reasons(
        store: Store) -> None:
    items = [{**ITEM, "barcode": f"3{n:013d}"} for n in range(1, 201)]
    items[7] = {**items[7], "status": "stolen"}
    items[150] = {**items[150], "title": "a\x00b"}
    readers = [{**READER, "reader_id": f"r{n}"} for n in range(2, 52)]
    readers[20] = {**readers[20], "credit": "0"}
    page = ([change(10 + n, "item", d) for n, d in enumerate(items)]
            + [change(300 + n, "reader", d) for n, d in enumerate(readers)])
    store.apply_pulled_page(page, 400)
    assert store.pull_cursor() == 400 and store.count("items") == 198
    assert store.count("readers") == 1 + 49
    expected = {}
    for entity, data in (("item", items[7]), ("item", items[150]), ("reader", readers[20])):
        with pytest.raises(ContractError) as err:
            validate_entity(entity, data)
        expected[(entity, data[ENTITY_KEYS[entity]])] = err.value.reason
    assert {(q.entity, q.entity_id): q.reason for q in store.quarantined_rows()} == expected

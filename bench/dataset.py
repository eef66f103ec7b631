"""Big local stores for the benchmarks, generated with executemany and cached by parameters.

``local_store(items, loans)`` gives the path of a kiosk store (the real schema, made by
``Store.open``) holding ``items`` catalogue items and ``loans`` open loans spread over readers.
The file is cached under bench/results/ (or ``directory``) keyed by its parameters and a generator
version, so a rerun only copies it. Callers that write to the store work on a copy
(``working_copy``). Readers get valid resident ID numbers, one per reader (``resident_id``), as
the record server's one-active-reader-per-ID-number index requires.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import RESULTS_DIR
from bench.events import resident_id
from config.settings import DEMO_LIBRARY_KEY
from library_core.codes import make_item_barcode
from library_core.identity import id_number_hash, mask_mobile, mask_resident_id
from server_client.store import Store

log = logging.getLogger(__name__)

GENERATOR_VERSION = 3  # 2: one valid resident ID number per reader; 3: kiosk store schema 4
# (readers keep the keyed hash and masked forms only), server schema with kiosk numbers
REFERENCE_DAY = dt.date(2026, 11, 24)  # the FixedClock day the returns benchmark runs on
TITLES = ("红楼梦", "三国演义", "水浒传", "西游记", "围城", "活着", "平凡的世界", "三体",
          "朝花夕拾", "骆驼祥子", "Python Crash Course", "The Pragmatic Programmer")


def reader_id(n: int) -> str:
    return f"R{n:08d}"


def loan_serial(i: int, items: int, loans: int) -> int:
    """Item serial of open loan ``i``: spread evenly over the catalogue."""
    return 1 + i * (items // loans)


def due_on(i: int) -> dt.date:
    """Due dates from 40 days before to 30 days after the reference day (about half overdue)."""
    return REFERENCE_DAY + dt.timedelta(days=(i * 7919) % 71 - 40)


def local_store(items: int = 1_000_000, loans: int = 200_000, readers: int = 50_000, *,
                directory: Path = RESULTS_DIR) -> Path:
    """The cached store file for these parameters, generated if missing."""
    path = directory / f"store-v{GENERATOR_VERSION}-i{items}-l{loans}-r{readers}.sqlite3"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    for leftover in directory.glob(tmp.name + "*"):
        leftover.unlink()
    t0 = time.monotonic()
    Store.open(tmp, kiosk_id="K01").close()  # the real schema, migrated
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    registered = dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.UTC).isoformat()
    key = DEMO_LIBRARY_KEY.encode()
    conn.executemany(
        "INSERT INTO readers (reader_id, name, id_hash, id_masked, phone_masked, category,"
        " registered_at) VALUES (?, ?, ?, ?, ?, 'adult', ?)",
        ((reader_id(n), f"读者{n}", id_number_hash(resident_id(n), key),
          mask_resident_id(resident_id(n)), mask_mobile(f"138{n:08d}"), registered)
         for n in range(readers)))
    on_loan = {loan_serial(i, items, loans) for i in range(loans)}

    def item_rows() -> Iterator[tuple[str, str, str, str, int]]:
        for s in range(1, items + 1):
            yield (make_item_barcode(s), f"{TITLES[s % len(TITLES)]} 第{s}册",
                   "on_loan" if s in on_loan else "available", f"I{s % 1000:03d}.{s}",
                   int(s % 97 == 0))

    conn.executemany(
        "INSERT INTO items (barcode, title, status, call_no, hold) VALUES (?, ?, ?, ?, ?)",
        item_rows())

    def loan_rows() -> Iterator[tuple[str, str, str, str, str]]:
        for i in range(loans):
            due = due_on(i)
            yield (f"L{i:08d}", make_item_barcode(loan_serial(i, items, loans)),
                   reader_id(i % readers), (due - dt.timedelta(days=30)).isoformat(),
                   due.isoformat())

    conn.executemany(
        "INSERT INTO loans (loan_id, item_barcode, reader_id, borrowed_at, due_on)"
        " VALUES (?, ?, ?, ?, ?)", loan_rows())
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    tmp.rename(path)
    log.info("generated %s in %.1f s", path.name, time.monotonic() - t0)
    return path


def working_copy(source: Path, dest: Path) -> Path:
    """A copy of a cached store that a benchmark may change."""
    shutil.copyfile(source, dest)
    return dest


def server_replica(readers: int = 100_000, items: int = 500_000, *,
                   directory: Path = RESULTS_DIR) -> Path:
    """A cached record-server SQLite database with ``readers`` readers (and their cards are not
    included) and ``items`` items, each with its change-log row, as a new kiosk pulls them."""
    import json

    from sqlalchemy import create_engine

    from record_server.db import migrate

    path = directory / f"server-v{GENERATOR_VERSION}-r{readers}-i{items}.sqlite3"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    for leftover in directory.glob(tmp.name + "*"):
        leftover.unlink()
    t0 = time.monotonic()
    engine = create_engine(f"sqlite:///{tmp}")
    migrate(engine)
    engine.dispose()
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    registered = "2025-01-01T09:00:00+08:00"
    seq = 0

    def reader_rows() -> Iterator[tuple[object, ...]]:
        for n in range(readers):
            yield (f"rd-{n:09d}", f"读者{n}", resident_id(n), f"139{n:08d}",
                   "adult", "bench-no-pin", "active", 0, registered)

    conn.executemany(
        "INSERT INTO readers (reader_id, name, id_number, phone, category, pin_hash, status,"
        " credit, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", reader_rows())
    conn.executemany(
        "INSERT INTO items (barcode, title, author, call_no, status, hold)"
        " VALUES (?, ?, '', ?, 'available', 0)",
        ((make_item_barcode(s), f"{TITLES[s % len(TITLES)]} 第{s}册", f"I{s % 1000:03d}.{s}")
         for s in range(1, items + 1)))
    keys = ("reader_id", "name", "id_number", "phone", "category", "pin_hash", "status",
            "credit", "registered_at")

    def change_rows() -> Iterator[tuple[str, str, int, str]]:
        nonlocal seq
        for row in reader_rows():
            seq += 1
            yield ("reader", str(row[0]), seq,
                   json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False,
                              sort_keys=True))
        for s in range(1, items + 1):
            seq += 1
            barcode = make_item_barcode(s)
            yield ("item", barcode, seq, json.dumps({
                "barcode": barcode, "title": f"{TITLES[s % len(TITLES)]} 第{s}册", "author": "",
                "call_no": f"I{s % 1000:03d}.{s}", "status": "available", "hold": False},
                ensure_ascii=False, sort_keys=True))

    conn.executemany("INSERT INTO changes (entity, entity_id, seq, data) VALUES (?, ?, ?, ?)",
                     change_rows())
    conn.execute("UPDATE server_state SET last_change_seq = ? WHERE id = 1", (seq,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(path)
    log.info("generated %s in %.1f s", path.name, time.monotonic() - t0)
    return path

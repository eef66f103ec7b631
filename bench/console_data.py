"""The console benchmark's PostgreSQL data set: 1,000,000 readers with a card each and a year
of events from 20 kiosks, written with COPY into the server's own tables (column lists from
``record_server.models``), in a database migrated by the server's own migrations.

A year of events: every kiosk, every day up to and including today (the library's day), 100
to 300 events (a fixed pseudo-random draw per kiosk and day), the mix of a front desk: returns,
visitors, payments, fees assessed, cards issued, renewed, replaced and blocked; every payment
is also a ``payments`` row and every visitor a ``visits`` row (most signed out, the rest left to
expire; those past the retention period purged), as ingest leaves them.

The cluster's data directory is cached under bench/results/ once generated, keyed by the
parameters, the generator version and the library's date (the year ends today, so a cached set
from another day would have no "today"); a rerun the same day copies it instead of generating.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR
from bench.events import resident_id
from library_core import events as ev
from library_core.clock import CHINA_TZ
from library_core.codes import format_receipt_no, make_card_no
from library_core.identity import id_number_hash
from tests.support.postgres import PostgresCluster, _as_postgres

log = logging.getLogger(__name__)
GENERATOR_VERSION = 2  # 2: visits and their events as the daily purge leaves them
DB_NAME = "console_bench"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯"
KINDS = ((ev.LOAN_RETURNED, 45), (ev.VISIT_OPENED, 12), (ev.PAYMENT_RECORDED, 14),
         (ev.FEE_ASSESSED, 12), (ev.CARD_ISSUED, 8), (ev.CARD_RENEWED, 7),
         (ev.CARD_REPLACED, 1), (ev.CARD_BLOCKED, 1))
METHODS = ("wechat", "alipay", "cash")
FEE_KINDS = (("overdue", 50), ("deposit", 10_000), ("card", 1_000), ("replacement", 2_000))


def library_today() -> dt.date:
    return dt.datetime.now(CHINA_TZ).date()


def reader_name(i: int) -> str:
    return (SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 97) % len(GIVEN)]
            + GIVEN[(i // 4099) % len(GIVEN)])


def reader_id(i: int) -> str:
    return f"R{i:08d}"


def _copy(cur: Any, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    for c in columns:
        assert c in table.c, f"{table.name}.{c}"  # the server's own columns
    n = 0
    with cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _readers(n: int, key: bytes, since: dt.datetime, kiosks: list[str]) -> Iterable[tuple[Any, ...]]:
    for i in range(1, n + 1):
        number = resident_id(i)
        at = (since + dt.timedelta(seconds=i * 131)).isoformat()
        yield (reader_id(i), reader_name(i), number, f"13{i:09d}", "adult", "-", "active", 0,
               at, kiosks[i % len(kiosks)], id_number_hash(number, key))


def _cards(n: int, since: dt.datetime) -> Iterable[tuple[Any, ...]]:
    for i in range(1, n + 1):
        at = since + dt.timedelta(seconds=i * 131)
        yield (make_card_no(i), reader_id(i), f"{i:08X}", 1, "active", at.isoformat(),
               (at.date() + dt.timedelta(days=3 * 365)).isoformat())


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([c for c, _w in choices], weights=[w for _c, w in choices])[0]


class _Year:
    """Events, payments and visits of every kiosk for the year ending ``today``."""

    def __init__(self, kiosks: list[str], today: dt.date, days: int, readers: int,
                 retention_days: int) -> None:
        self.kiosks, self.today, self.days, self.readers = kiosks, today, days, readers
        self.retention = retention_days
        self.payments: list[tuple[Any, ...]] = []
        self.visits: list[tuple[Any, ...]] = []
        self.last_seq: dict[str, int] = {}

    def events(self) -> Iterator[tuple[Any, ...]]:
        """Every event row, kiosk by kiosk and day by day (payments and visits collected)."""
        kinds = [k for k, _w in KINDS]
        weights = [w for _k, w in KINDS]
        for k_index, kiosk in enumerate(self.kiosks):
            seq = 0
            for back in range(self.days - 1, -1, -1):
                day = self.today - dt.timedelta(days=back)
                rng = random.Random(f"{kiosk}/{day}")
                count = rng.randint(100, 300)
                opening = dt.datetime.combine(day, dt.time(9), tzinfo=CHINA_TZ)
                receipts = 0
                for j, kind in enumerate(rng.choices(kinds, weights=weights, k=count)):
                    seq += 1
                    at = opening + dt.timedelta(seconds=j * 36_000 // count)
                    received = (at + dt.timedelta(seconds=2)).isoformat()
                    reader = reader_id(rng.randint(1, self.readers))
                    payload = self._payload(kind, rng, kiosk, day, at, reader, seq, receipts)
                    if kind == ev.PAYMENT_RECORDED:
                        receipts += 1
                    event_id = str(uuid.UUID(int=(k_index << 40) | seq))
                    yield (event_id, kiosk, seq, kind, at.isoformat(), day.isoformat(),
                           received, "applied", json.dumps(payload, ensure_ascii=False))
            self.last_seq[kiosk] = seq

    def _payload(self, kind: str, rng: random.Random, kiosk: str, day: dt.date,
                 at: dt.datetime, reader: str, seq: int, receipts: int) -> dict[str, Any]:
        if kind == ev.PAYMENT_RECORDED:
            method = rng.choice(METHODS)
            amount = rng.choice((50, 100, 1_000, 11_000))
            receipt = format_receipt_no(kiosk, day, receipts + 1)
            pid = f"{kiosk}-p{seq}"
            self.payments.append((pid, "payment", reader, receipt, method, amount, 0, kiosk,
                                  at.isoformat(), day.isoformat()))
            return {"payment_id": pid, "reader_id": reader, "receipt_no": receipt,
                    "method": method, "amount": amount}
        if kind == ev.FEE_ASSESSED:
            fee_kind, amount = FEE_KINDS[rng.randrange(len(FEE_KINDS))]
            return {"fee_id": f"{kiosk}-f{seq}", "reader_id": reader, "kind": fee_kind,
                    "amount": amount}
        if kind == ev.VISIT_OPENED:
            vid = f"{kiosk}-V{seq:06d}"
            expires = at + dt.timedelta(hours=8)
            closed = (at + dt.timedelta(hours=2)).isoformat() if rng.random() < 0.7 else None
            # past the retention period: as the daily purge left it (visitor_purge)
            old = (self.today - day).days > self.retention
            name, phone, number, purpose = ("", "", None, "") if old else (
                reader_name(seq), f"139{seq:08d}", resident_id(10_000_000 + seq), "参观")
            self.visits.append((vid, kiosk, name, phone, number, purpose, "办公室",
                                at.isoformat(), expires.isoformat(), closed,
                                "scanned" if closed else None,
                                self.today.isoformat() if old else None))
            return {"visit_id": vid, "name": name, "phone": phone, "id_number": number,
                    "purpose": purpose, "host_department": "办公室",
                    "expires_at": expires.isoformat()}
        if kind == ev.LOAN_RETURNED:
            return {"loan_id": f"{kiosk}-l{seq}", "item_barcode": f"{seq:014d}",
                    "returned_at": at.isoformat()}
        return {"reader_id": reader, "card_no": make_card_no(int(reader[1:]))}


def generate(url: str, *, readers: int, kiosks: list[str], days: int, key: bytes,
             retention_days: int) -> dict[str, int]:
    """Fill the migrated, empty database at ``url``; returns the row counts."""
    import psycopg
    from sqlalchemy import insert

    from record_server import models as m
    from record_server.db import Database

    today = library_today()
    since = dt.datetime.combine(today - dt.timedelta(days=5 * 365), dt.time(8), tzinfo=CHINA_TZ)
    t0 = time.monotonic()
    year = _Year(kiosks, today, days, readers, retention_days)
    counts: dict[str, int] = {}
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        counts["readers"] = _copy(cur, m.readers, (
            "reader_id", "name", "id_number", "phone", "category", "pin_hash", "status",
            "credit", "registered_at", "kiosk_id", "id_hash"), _readers(readers, key, since,
                                                                       kiosks))
        counts["cards"] = _copy(cur, m.cards, ("card_no", "reader_id", "uid", "generation",
                                               "status", "issued_at", "expires_on"),
                                _cards(readers, since))
        counts["events"] = _copy(cur, m.events, (
            "event_id", "kiosk_id", "seq", "kind", "occurred_at", "occurred_day",
            "received_at", "status", "payload"), year.events())
        counts["payments"] = _copy(cur, m.payments, (
            "payment_id", "kind", "reader_id", "receipt_no", "method", "amount", "credited",
            "kiosk_id", "occurred_at", "occurred_day"), year.payments)
        counts["visits"] = _copy(cur, m.visits, (
            "visit_id", "kiosk_id", "name", "phone", "id_number", "purpose", "host_department",
            "opened_at", "expires_at", "closed_at", "how", "purged_at"), year.visits)
        for kiosk, n in year.last_seq.items():
            cur.execute("UPDATE kiosks SET next_seq = %s, last_push_at = %s WHERE kiosk_id = %s",
                        (n + 1, dt.datetime.now(CHINA_TZ).isoformat(), kiosk))
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    db = Database(url)
    try:
        now = dt.datetime.now(CHINA_TZ).isoformat()
        with db.write() as conn:
            conn.execute(insert(m.kiosk_status), [dict(
                kiosk_id=k, received_at=now, reported_at=now, software_version="1.0.0",
                card_reader="ok", printer_online=True,
                printer_paper="near_end" if i == 3 else "ok", printer_cover_open=False,
                scanner="ok", pending_events=0, last_sync_error="") for i, k in
                enumerate(kiosks)])
            # the daily purge ran yesterday (what it left is in the visits and events above)
            yesterday = dt.datetime.now(CHINA_TZ) - dt.timedelta(days=1)
            conn.execute(insert(m.visitor_purges).values(
                at=yesterday.isoformat(), retention_days=retention_days, visits=0, events=0,
                cutoff=(yesterday - dt.timedelta(days=retention_days)).isoformat(), by="timer"))
    finally:
        db.dispose()
    log.info("data set written in %.1f s: %s", time.monotonic() - t0, counts)
    return counts


class CachedCluster(PostgresCluster):
    """A throwaway cluster whose data directory starts as a copy of ``cache`` when it exists
    (``fill`` makes it otherwise: generate, stop, copy, start again)."""

    def __init__(self, cache: Path) -> None:
        super().__init__()
        self.cache = cache
        self.cached = cache.exists()

    def start(self) -> PostgresCluster:
        if not self.cached:
            return super().start()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        subprocess.run(["cp", "-a", str(self.cache), str(self.data)], check=True, timeout=600)
        self._pg_start()
        return self

    def _pg_start(self) -> None:
        from tests.support.postgres import PG_BIN

        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=200")
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                      "-t", "60", "-l", str(self.root / "server.log"), "start"])
        self.running = True

    def save(self) -> None:
        """Stop, copy the data directory to the cache (old dates' caches removed), start."""
        from tests.support.postgres import PG_BIN

        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                      "stop"])
        self.running = False
        for old in self.cache.parent.glob("console-pg-*"):  # one kept (2.3 GB at 1M readers)
            shutil.rmtree(old, ignore_errors=True)
        tmp = self.cache.with_name(self.cache.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["cp", "-a", str(self.data), str(tmp)], check=True, timeout=600)
        tmp.rename(self.cache)
        self._pg_start()


def cache_path(readers: int, kiosks: int, days: int) -> Path:
    """Keyed by the parameters, the schema's newest migration and the library's date."""
    from record_server.db import MIGRATIONS_DIR

    head = max(p.name[:4] for p in (Path(MIGRATIONS_DIR) / "versions").glob("[0-9]*.py"))
    return RESULTS_DIR / (f"console-pg-v{GENERATOR_VERSION}-r{readers}-k{kiosks}-d{days}-"
                          f"m{head}-{library_today():%Y%m%d}")

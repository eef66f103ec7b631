"""Demo data from ``config/demo_profile.toml``: readers, cards, items, loans (some overdue),
fines, holds and two staff accounts. Deterministic for a given seed; the demo and tests share it.

``build_demo_rows(profile)`` makes plain rows keyed like the pulled entities of the sync contract
(so the record server can load the very same data); ``load_rows(store, rows)`` bulk-inserts them
into a kiosk store in one transaction (``executemany``). ``generate_bulk`` streams a large
catalogue (1,000,000 items, 200,000 open loans) for benchmarks without holding it in memory.

Demo readers all share one PIN (``reader_pin``), hashed once: hashing hundreds of PINs with a
slow scrypt would take minutes and buys nothing for demo data.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.settings import CONFIG_DIR, DEMO_LIBRARY_KEY
from library_core import pins
from library_core.clock import CHINA_TZ
from library_core.codes import make_card_no, make_item_barcode
from library_core.errors import ConfigError
from library_core.identity import id_check_char, id_number_hash, mask_mobile, mask_resident_id
from server_client.store import Store

log = logging.getLogger(__name__)

PROFILE_PATH = CONFIG_DIR / "demo_profile.toml"
DEMO_CARD_SERIAL_BASE = 9 * 10**8  # kiosks count from kiosk_no * 10^8: no overlap below K09

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
          "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文", "华", "玉兰", "子涵", "浩然", "欣怡",
          "梓萱", "宇轩", "雨桐", "思远", "嘉怡", "一诺", "俊杰"]
_AREAS = ["110101", "110105", "110108", "310104", "310115", "440106", "440305", "330106",
          "320102", "510107", "420106", "610113"]
_ZH_TITLES = ["红楼梦", "西游记", "水浒传", "三国演义", "围城", "边城", "活着", "平凡的世界",
              "白鹿原", "骆驼祥子", "呐喊", "朝花夕拾", "城南旧事", "三体", "文化苦旅", "人间词话",
              "唐诗三百首", "宋词选", "中国通史", "万历十五年", "乡土中国", "明朝那些事儿",
              "小王子", "哈利·波特与魔法石", "百年孤独", "追风筝的人", "解忧杂货店", "撒哈拉的故事",
              "傅雷家书", "家", "茶馆", "雷雨", "长安的荔枝", "人类简史", "数学之美", "时间简史"]
_EN_TITLES = ["Pride and Prejudice", "The Old Man and the Sea", "Jane Eyre", "Hamlet",
              "A Brief History of Time", "The Little Prince", "Animal Farm", "Nineteen Eighty-Four",
              "The Great Gatsby", "Charlotte's Web", "Wuthering Heights", "Moby-Dick",
              "The Selfish Gene", "Sapiens", "Thinking, Fast and Slow", "Dune", "Matilda",
              "The Hobbit", "Great Expectations", "Python Crash Course", "Oliver Twist"]
_ZH_AUTHORS = ["曹雪芹", "吴承恩", "施耐庵", "罗贯中", "钱锺书", "沈从文", "余华", "路遥", "陈忠实",
               "老舍", "鲁迅", "林海音", "刘慈欣", "余秋雨", "王国维", "黄仁宇", "费孝通", "三毛"]
_EN_AUTHORS = ["Jane Austen", "Ernest Hemingway", "Charlotte Bronte", "William Shakespeare",
               "Stephen Hawking", "Antoine de Saint-Exupery", "George Orwell", "F. Scott Fitzgerald",
               "E. B. White", "Richard Dawkins", "Yuval Noah Harari", "Roald Dahl", "Charles Dickens"]
_EDITIONS = ["", "（第2版）", "（插图本）", "（修订版）", "（珍藏版）", "（青少年版）"]


@dataclass(frozen=True)
class StaffProfile:
    staff_no: str
    name: str
    role: str
    pin: str
    card_no: str | None = None


@dataclass(frozen=True)
class DemoProfile:
    seed: int = 20261124
    today: dt.date = dt.date(2026, 11, 24)
    readers: int = 300
    items: int = 3000
    open_loans: int = 900
    overdue_share: float = 0.2
    returned_loans: int = 1200
    open_fines: int = 40
    hold_share: float = 0.03
    reader_pin: str = "135246"
    expired_share: float = 0.05
    staff: tuple[StaffProfile, ...] = ()


def load_profile(path: Path = PROFILE_PATH, **overrides: Any) -> DemoProfile:
    """Read a demo profile. Raises ConfigError naming a bad key."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError("demo_profile", f"{path}: {err}") from err
    raw.update(overrides)
    known = set(DemoProfile.__dataclass_fields__)
    for key in raw:
        if key not in known:
            raise ConfigError(f"demo_profile.{key}", "unknown key")
    try:
        staff = tuple(StaffProfile(**s) for s in raw.pop("staff", []))
        if "today" in raw and isinstance(raw["today"], str):
            raw["today"] = dt.date.fromisoformat(raw["today"])
        profile = DemoProfile(**raw, staff=staff)
    except (TypeError, ValueError) as err:
        raise ConfigError("demo_profile", str(err)) from err
    if profile.open_loans > profile.items:
        raise ConfigError("demo_profile.open_loans", "more open loans than items")
    return profile


@dataclass
class DemoRows:
    """Rows per table, keyed like the pulled entities."""

    readers: list[dict[str, Any]] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    loans: list[dict[str, Any]] = field(default_factory=list)
    fees: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.__dict__.items()}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _resident_id(rng: random.Random, today: dt.date, category: str) -> str:
    ages = {"child": (6, 13), "student": (14, 22), "adult": (23, 59), "senior": (60, 88)}[category]
    birth = today - dt.timedelta(days=rng.randint(ages[0] * 365 + 1, ages[1] * 365 + 300))
    first17 = f"{rng.choice(_AREAS)}{birth:%Y%m%d}{rng.randint(0, 999):03d}"
    return first17 + id_check_char(first17)


def _item(rng: random.Random, serial: int, hold_share: float) -> dict[str, Any]:
    if rng.random() < 0.75:
        title = rng.choice(_ZH_TITLES) + rng.choice(_EDITIONS)
        author = rng.choice(_ZH_AUTHORS)
    else:
        title = rng.choice(_EN_TITLES)
        author = rng.choice(_EN_AUTHORS)
    return {"barcode": make_item_barcode(serial), "title": title, "author": author,
            "call_no": f"I{rng.randint(200, 299)}.{rng.randint(1, 9)}/{rng.randint(1, 999)}",
            "status": "available", "hold": rng.random() < hold_share}


def build_demo_rows(profile: DemoProfile, *, pin_n: int = pins.DEFAULT_N) -> DemoRows:
    """All demo rows for ``profile``; the same seed gives the same rows (PIN salts aside)."""
    rng = random.Random(profile.seed)
    today = profile.today
    at = dt.datetime.combine(today, dt.time(9, 0), tzinfo=CHINA_TZ)
    rows = DemoRows()
    reader_pin_hash = pins.hash_pin(profile.reader_pin, n=pin_n,
                                    salt=rng.getrandbits(128).to_bytes(16, "big"))
    for s in profile.staff:
        rows.staff.append({"staff_no": s.staff_no, "name": s.name, "role": s.role,
                           "pin_hash": pins.hash_pin(s.pin, n=pin_n), "card_no": s.card_no,
                           "active": True})
    categories = ["adult"] * 6 + ["student"] * 2 + ["child", "senior"]
    for i in range(profile.readers):
        category = rng.choice(categories)
        reader_id = _uuid(rng)
        registered = at - dt.timedelta(days=rng.randint(30, 1000))
        rows.readers.append({
            "reader_id": reader_id,
            "name": rng.choice(_SURNAMES) + rng.choice(_GIVEN),
            "id_number": _resident_id(rng, today, category),
            "phone": f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}",
            "category": category, "pin_hash": reader_pin_hash, "status": "active",
            "credit": 0, "registered_at": registered.isoformat()})
        expired = rng.random() < profile.expired_share
        expires = today + dt.timedelta(days=-rng.randint(1, 200) if expired else rng.randint(30, 1000))
        rows.cards.append({
            "card_no": make_card_no(DEMO_CARD_SERIAL_BASE + i + 1), "reader_id": reader_id,
            "uid": rng.getrandbits(32).to_bytes(4, "big").hex(), "generation": 1,
            "status": "active", "issued_at": registered.isoformat(),
            "expires_on": expires.isoformat()})
    rows.items = [_item(rng, serial, profile.hold_share) for serial in range(1, profile.items + 1)]
    reader_ids = [r["reader_id"] for r in rows.readers]
    on_loan = rng.sample(range(len(rows.items)), profile.open_loans)
    for idx in on_loan:
        item = rows.items[idx]
        item["status"] = "on_loan"
        overdue = rng.random() < profile.overdue_share
        due = today + dt.timedelta(days=-rng.randint(1, 90) if overdue else rng.randint(0, 29))
        rows.loans.append({
            "loan_id": _uuid(rng), "item_barcode": item["barcode"],
            "reader_id": rng.choice(reader_ids),
            "borrowed_at": dt.datetime.combine(due - dt.timedelta(days=30), dt.time(14, 0),
                                               tzinfo=CHINA_TZ).isoformat(),
            "due_on": due.isoformat(), "returned_at": None})
    for _ in range(profile.returned_loans):
        item = rows.items[rng.randrange(len(rows.items))]
        due = today - dt.timedelta(days=rng.randint(40, 400))
        rows.loans.append({
            "loan_id": _uuid(rng), "item_barcode": item["barcode"],
            "reader_id": rng.choice(reader_ids),
            "borrowed_at": dt.datetime.combine(due - dt.timedelta(days=30), dt.time(11, 0),
                                               tzinfo=CHINA_TZ).isoformat(),
            "due_on": due.isoformat(),
            "returned_at": dt.datetime.combine(due + dt.timedelta(days=rng.randint(-20, 10)),
                                               dt.time(16, 0), tzinfo=CHINA_TZ).isoformat()})
    for reader_id in rng.sample(reader_ids, min(profile.open_fines, len(reader_ids))):
        amount = rng.randint(1, 60) * 10
        rows.fees.append({
            "fee_id": _uuid(rng), "reader_id": reader_id, "kind": "overdue", "amount": amount,
            "paid": 0, "status": "open", "description": "overdue fine (history)",
            "created_at": (at - dt.timedelta(days=rng.randint(1, 90))).isoformat(),
            "loan_id": None, "item_barcode": None})
    return rows


_TABLES = ("staff", "readers", "cards", "items", "loans", "fees")


def kiosk_reader_row(row: dict[str, Any], library_key: bytes) -> dict[str, Any]:
    """A demo reader (the server's shape) as a kiosk store keeps it: the keyed hash of the ID
    number and the masked ID number and phone, no PIN hash (the server's ``kiosk_reader``)."""
    out = {k: v for k, v in row.items() if k not in ("id_number", "phone", "pin_hash")}
    return out | {"id_hash": id_number_hash(row["id_number"], library_key),
                  "id_masked": mask_resident_id(row["id_number"]),
                  "phone_masked": mask_mobile(row["phone"])}


def load_rows(store: Store, rows: DemoRows, *,
              library_key: bytes = DEMO_LIBRARY_KEY.encode()) -> dict[str, int]:
    """Bulk-insert demo rows into ``store`` in one transaction (audited), readers as a kiosk
    holds them (``kiosk_reader_row`` with ``library_key``). Returns counts."""
    counts = rows.counts()
    with store.transaction() as tx:
        for table in _TABLES:
            data = getattr(rows, table)
            if table == "readers":
                data = [kiosk_reader_row(r, library_key) for r in data]
            elif table == "staff":  # the server checks staff PINs: no hash on a kiosk
                data = [{k: v for k, v in r.items() if k != "pin_hash"} for r in data]
            if not data:
                continue
            cols = list(data[0])
            tx.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                ([int(v) if isinstance(v, bool) else v for v in (r[c] for c in cols)] for r in data))
        tx.audit(at=dt.datetime.now(CHINA_TZ), actor="system", action="demo.loaded",
                 detail=counts)
    log.info("demo data loaded: %s", counts)
    return counts


def generate(store: Store, profile: DemoProfile | None = None, *,
             pin_n: int = pins.DEFAULT_N,
             library_key: bytes = DEMO_LIBRARY_KEY.encode()) -> dict[str, int]:
    """Build and load the demo data of ``profile`` (the shipped profile by default)."""
    return load_rows(store, build_demo_rows(profile or load_profile(), pin_n=pin_n),
                     library_key=library_key)


def generate_bulk(store: Store, *, items: int = 1_000_000, open_loans: int = 200_000,
                  readers: int = 20_000, seed: int = 7, today: dt.date = dt.date(2026, 11, 24),
                  batch: int = 50_000) -> dict[str, int]:
    """A large catalogue for benchmarks, streamed in batches of ``executemany``."""
    if open_loans > items:
        raise ValueError("more open loans than items")
    rng = random.Random(seed)
    reader_ids = [_uuid(rng) for _ in range(readers)]
    stamp = dt.datetime.combine(today, dt.time(9, 0), tzinfo=CHINA_TZ).isoformat()

    def reader_rows() -> Iterator[tuple[Any, ...]]:
        for i, rid in enumerate(reader_ids):
            id_number, phone = _resident_id(rng, today, "adult"), f"139{i:08d}"
            yield (rid, f"读者{i}", id_number_hash(id_number, DEMO_LIBRARY_KEY.encode()),
                   mask_resident_id(id_number), mask_mobile(phone), "adult", "active", 0, stamp)

    def item_rows(start: int, stop: int) -> Iterator[tuple[Any, ...]]:
        for serial in range(start, stop):
            it = _item(rng, serial, 0.02)
            yield (it["barcode"], it["title"], it["author"], it["call_no"],
                   "on_loan" if serial <= open_loans else "available", int(it["hold"]))

    def loan_rows(start: int, stop: int) -> Iterator[tuple[Any, ...]]:
        for serial in range(start, stop):
            due = today + dt.timedelta(days=rng.randint(-60, 29))
            yield (_uuid(rng), make_item_barcode(serial), reader_ids[serial % readers],
                   stamp, due.isoformat(), None)

    with store.transaction() as tx:
        tx.executemany("INSERT INTO readers (reader_id, name, id_hash, id_masked, phone_masked,"
                       " category, status, credit, registered_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       reader_rows())
        for start in range(1, items + 1, batch):
            stop = min(items + 1, start + batch)
            tx.executemany("INSERT INTO items (barcode, title, author, call_no, status, hold)"
                           " VALUES (?, ?, ?, ?, ?, ?)", item_rows(start, stop))
        for start in range(1, open_loans + 1, batch):
            stop = min(open_loans + 1, start + batch)
            tx.executemany("INSERT INTO loans (loan_id, item_barcode, reader_id, borrowed_at,"
                           " due_on, returned_at) VALUES (?, ?, ?, ?, ?, ?)", loan_rows(start, stop))
        tx.audit(at=dt.datetime.now(CHINA_TZ), actor="system", action="demo.bulk_loaded",
                 detail={"items": items, "open_loans": open_loans, "readers": readers})
    return {"readers": readers, "items": items, "loans": open_loans}

"""A store + services on a FixedClock, for unit tests, other helpers and the UI tests to reuse.

``services_env`` (fixture) gives a ``ServicesEnv`` with a fresh SQLite store in tmp_path, a
``SimulatedPaymentGateway``, a ``MemoryCardWriter`` (blank card on the reader, failure switches)
and two staff accounts (S0001 desk, S0002 supervisor; PINs 246810 and 135790). PIN hashing uses
a cheap scrypt cost so tests stay fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG_DIR
from kiosk.services import KioskServices, build_services
from kiosk.services.cards import NewReader
from kiosk.services.common import Tender
from kiosk.services.config import ServicesConfig
from kiosk.services.payment import SimulatedPaymentGateway
from library_core import pins
from library_core.clock import CHINA_TZ, FixedClock
from library_core.codes import make_item_barcode
from library_core.errors import DeviceError
from library_core.fees import load_fee_schedule
from library_core.identity import id_check_char
from server_client.store import Store

TEST_KEY = b"unit-test-library-key-0123456789"
CHEAP_N = 1 << 4
START = dt.datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ)
DESK = ("S0001", "246810")
SUPERVISOR = ("S0002", "135790")
WECHAT_CODE = "134567890123456789"
ALIPAY_CODE = "2845678901234567"
REFUSED_CODE = "134567890123450000"


def resident_id(seq: int, birth: str = "19900307", area: str = "110105") -> str:
    """A valid resident ID number (checksum right) for test person ``seq``."""
    first17 = f"{area}{birth}{seq % 1000:03d}"
    return first17 + id_check_char(first17)


def make_reader(seq: int = 1, *, category: str = "adult", pin: str = "246813") -> NewReader:
    return NewReader(name=f"张小明{seq}", id_number=resident_id(seq),
                     phone=f"138{seq:08d}", category=category, pin=pin)


class OutboxReaderPins:
    """The record server's reader-PIN check, stood in for unit and UI tests that run no
    server (``ReaderPinVerifier``): the PIN hash is the one the kiosk's registration event
    carries to the server (still in the outbox, never pushed here), the ID number must be that
    registration's, and wrong PINs count by the server's policy (``PinLockout``). The real
    check runs in tests/integration/test_reader_privacy.py against the server process."""

    def __init__(self, store: Store, clock: Any = None) -> None:
        from library_core.rules import PinLockout

        self.store = store
        self.clock = clock
        self.policy = PinLockout()
        self.failures: dict[str, int] = {}
        self.locked_until: dict[str, dt.datetime] = {}
        self.online = True

    def verify_reader_pin(self, reader_id: str, id_number: str, pin: str) -> Any:
        import json

        from kiosk.services.ports import PinVerdict
        from library_core.errors import NotFound, SyncError

        if not self.online:
            raise SyncError("error.sync.offline", "server out of reach (test switch)")
        row = self.store.read_one(
            "SELECT payload FROM outbox WHERE kind = 'reader.registered'"
            " AND json_extract(payload, '$.reader_id') = ?", (reader_id,))
        payload = json.loads(row[0]) if row is not None else {}
        if payload.get("id_number") != id_number or "pin_hash" not in payload:
            raise NotFound("reader.not_found", "no such active reader")
        now = self.clock.now() if self.clock is not None else dt.datetime.now(dt.UTC)
        until = self.locked_until.get(reader_id)
        if until is not None and self.policy.locked(until, now):
            return PinVerdict("locked", 0, self.policy.minutes_left(until, now))
        if pins.verify_pin(pin, payload["pin_hash"]):
            self.failures.pop(reader_id, None)
            return PinVerdict("ok")
        state = self.policy.after_wrong(self.failures.get(reader_id, 0), now)
        self.failures[reader_id] = state.failures
        if state.locked_until is not None:
            self.locked_until[reader_id] = state.locked_until
            return PinVerdict("locked", 0, self.policy.minutes_left(state.locked_until, now))
        return PinVerdict("wrong", self.policy.attempts_left(state.failures))


class MemoryCardWriter:
    """A card on the reader, in memory: implements the CardWriter port for unit tests."""

    def __init__(self, first_uid: int = 1) -> None:
        self.cards: dict[bytes, bytes] = {}
        self.present: bytes | None = None
        self.fail_write = False
        self.writes = 0
        self._next_uid = first_uid

    def place_blank(self) -> bytes:
        uid = self._next_uid.to_bytes(4, "big") + b"\x5a\xa5\x01"
        self._next_uid += 1
        self.cards[uid] = bytes(48)
        self.present = uid
        return uid

    def place(self, uid: bytes, data: bytes | None = None) -> None:
        if data is not None:
            self.cards[uid] = data
        self.cards.setdefault(uid, bytes(48))
        self.present = uid

    def remove(self) -> None:
        self.present = None

    def current_uid(self) -> bytes | None:
        return self.present

    def read_token(self, uid: bytes) -> bytes:
        if self.present != uid:
            raise DeviceError("card.removed", "card not on the reader")
        return self.cards[uid]

    def write_token(self, uid: bytes, data: bytes) -> None:
        if self.present != uid:
            raise DeviceError("card.removed", "card not on the reader")
        if self.fail_write:
            raise DeviceError("card.write_failed", "simulated write failure")
        self.cards[uid] = bytes(data)
        self.writes += 1

    def tapped(self) -> tuple[bytes, bytes]:
        assert self.present is not None
        return self.present, self.cards[self.present]


@dataclass
class ServicesEnv:
    store: Store
    clock: FixedClock
    gateway: SimulatedPaymentGateway
    writer: MemoryCardWriter
    config: ServicesConfig
    services: KioskServices
    staff: StandInStaffAuthority | None = None  # the record server's staff log-in, stood in

    def new_card(self, seq: int = 1, **kw: Any) -> Any:
        self.writer.place_blank()
        return self.services.cards.new_card(make_reader(seq, **kw), Tender.payment_code(WECHAT_CODE))

    def desk(self) -> Any:
        return self.services.staff.login(*DESK)

    def supervisor(self) -> Any:
        return self.services.staff.login(*SUPERVISOR)

    def add_item(self, serial: int, title: str = "测试图书", *, hold: bool = False) -> str:
        barcode = make_item_barcode(serial)
        with self.store.transaction() as tx:
            tx.insert("items", {"barcode": barcode, "title": title, "author": "", "call_no": "",
                                "status": "available", "hold": hold})
        return barcode

    def add_loan(self, reader_id: str, barcode: str, *, due_on: dt.date) -> str:
        loan_id = f"loan-{barcode}-{due_on.isoformat()}"
        with self.store.transaction() as tx:
            tx.insert("loans", {"loan_id": loan_id, "item_barcode": barcode, "reader_id": reader_id,
                                "borrowed_at": (due_on - dt.timedelta(days=30)).isoformat(),
                                "due_on": due_on, "returned_at": None})
            tx.update("items", "barcode", barcode, {"status": "on_loan"})
        return loan_id

    def counts(self) -> dict[str, int]:
        """Row counts of every business table (what 'nothing left behind' compares)."""
        tables = ("readers", "cards", "items", "loans", "fees", "payments", "payment_allocations",
                  "receipts", "visitors", "outbox", "audit_log", "days_closed")
        return {t: self.store.count(t) for t in tables}

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Full contents of the business tables (not the audit log or PIN bookkeeping)."""
        out = {}
        for t in ("readers", "cards", "items", "loans", "fees", "payments", "payment_allocations",
                  "receipts", "visitors", "outbox", "days_closed"):
            out[t] = [tuple(r) for r in self.store.read(f"SELECT * FROM {t} ORDER BY 1")]
        return out


STAFF = ((DESK, "王芳", "desk", "20000000000014"), (SUPERVISOR, "李强", "supervisor", None))


class StandInStaffAuthority:
    """The record server's kiosk staff log-in, stood in for unit and UI tests that run no
    server (``StaffAuthority``): PIN hashes held here as the server holds them (never in the
    kiosk's store), one refusal for unknown, inactive, locked or wrong, the server's lockout
    (``PinLockout``), a random session key and an offline verifier made with this kiosk's
    offline key exactly as ``record_server.kiosk_staff`` makes them. ``online = False`` makes
    it unreachable (``SyncError``), so the kiosk tries its offline log-in. The real endpoint is
    tested against the server process in tests/integration/test_staff_authority.py."""

    def __init__(self, clock: Any, *, kiosk_id: str = "K01", n: int = CHEAP_N,
                 verifier_hours: int = 72) -> None:
        import secrets

        from library_core.rules import PinLockout

        self.clock = clock
        self.kiosk_id = kiosk_id
        self.verifier_hours = verifier_hours
        self.policy = PinLockout()
        self.offline_key = secrets.token_bytes(32)
        self.members: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, bytes] = {}  # session_id -> key, to check a proof
        self.mac_keys: dict[str, bytes] = {}  # verifier_id -> M
        self.online = True
        for (staff_no, pin), name, role, card in STAFF:
            self.add(staff_no, pin, name=name, role=role, card_no=card, n=n)

    def add(self, staff_no: str, pin: str, *, name: str, role: str, card_no: str | None = None,
            active: bool = True, n: int = CHEAP_N) -> None:
        self.members[staff_no] = {"name": name, "role": role, "card_no": card_no,
                                  "active": active, "pin_hash": pins.hash_pin(pin, n=n),
                                  "failures": 0, "locked_until": None}

    def open_staff_session(self, identifier: str, pin: str) -> Any:
        import secrets

        from kiosk.services.ports import OfflineGrant, StaffGrant
        from kiosk.services.staff_auth import StaffLoginRefused
        from library_core import contract as c
        from library_core.errors import SyncError

        if not self.online:
            raise SyncError("error.sync.offline", "server out of reach (test switch)")
        staff_no = next((k for k, v in self.members.items() if v["card_no"] == identifier),
                        identifier)
        member = self.members.get(staff_no)
        now = self.clock.now()
        if member is None or not member["active"] or (
                member["locked_until"] is not None
                and self.policy.locked(member["locked_until"], now)):
            raise StaffLoginRefused(None, "refused")
        if not pins.verify_pin(pin, member["pin_hash"]):
            state = self.policy.after_wrong(member["failures"], now)
            member["failures"], member["locked_until"] = state.failures, state.locked_until
            raise StaffLoginRefused(None, "refused")
        member["failures"], member["locked_until"] = 0, None
        session_id, key = secrets.token_urlsafe(24), secrets.token_bytes(32)
        self.sessions[session_id] = key
        until = (now + dt.timedelta(hours=self.verifier_hours)).isoformat()
        ctx = dict(kiosk_id=self.kiosk_id, staff_no=staff_no, role=member["role"],
                   valid_until=until, pin=pin)
        verifier_id = secrets.token_urlsafe(24)
        self.mac_keys[verifier_id] = c.offline_mac_key(self.offline_key, **ctx)
        return StaffGrant(session_id, key, staff_no, member["name"], member["role"], now,
                          now + dt.timedelta(minutes=30),
                          OfflineGrant(verifier_id, c.offline_verifier(self.offline_key, **ctx),
                                       until, self.offline_key))


class ServerDbStaffAuthority:
    """``StaffAuthority`` over the record server's own log-in (``record_server.kiosk_staff``)
    on its database, in process: for tests that push a kiosk's staff events to a server they
    drive directly (``apply.push``), so the proofs are the server's to check."""

    def __init__(self, db: Any, clock: Any, *, kiosk_id: str = "K01") -> None:
        self.db = db
        self.clock = clock
        self.kiosk_id = kiosk_id

    def open_staff_session(self, identifier: str, pin: str) -> Any:
        from kiosk.services.ports import OfflineGrant, StaffGrant
        from kiosk.services.staff_auth import StaffLoginRefused
        from library_core.staff_rules import OfflineStaffPolicy
        from record_server import auth, kiosk_staff

        try:
            g = kiosk_staff.open_session(self.db, kiosk_id=self.kiosk_id, identifier=identifier,
                                         pin=pin, clock=self.clock, offline=OfflineStaffPolicy())
        except auth.LoginRefused as err:
            raise StaffLoginRefused(None, "refused") from err
        off = g.offline
        return StaffGrant(g.session_id, g.session_key, g.staff_no, g.name, g.role,
                          dt.datetime.fromisoformat(g.started_at),
                          dt.datetime.fromisoformat(g.expires_at),
                          None if off is None else OfflineGrant(off.verifier_id, off.verifier,
                                                                off.valid_until, off.offline_key,
                                                                off.policy))


def add_staff(store: Store) -> None:
    """The pulled staff rows (no PIN hash: the server checks staff PINs)."""
    with store.transaction() as tx:
        for (staff_no, _pin), name, role, card in STAFF:
            tx.insert("staff", {"staff_no": staff_no, "name": name, "role": role,
                                "card_no": card, "active": 1})


def make_env(path: Path, *, clock: FixedClock | None = None, staff_authority: Any = None,
             **config: Any) -> ServicesEnv:
    """``staff_authority``: who checks staff log-ins (default ``StandInStaffAuthority``)."""
    clock = clock or FixedClock(START)
    cfg = ServicesConfig(kiosk_id="K01", kiosk_no=1, library_key=TEST_KEY,
                         fees=load_fee_schedule(CONFIG_DIR / "fees.toml"),
                         library_name="市图书馆", pin_n=CHEAP_N, **config)
    store = Store.open(path, kiosk_id="K01")
    add_staff(store)
    gateway = SimulatedPaymentGateway(refuse_suffix="0000")
    writer = MemoryCardWriter()
    stand_in = StandInStaffAuthority(clock) if staff_authority is None else None
    services = build_services(store, clock, gateway, writer, cfg,
                              reader_pins=OutboxReaderPins(store, clock),
                              staff_authority=staff_authority or stand_in)
    return ServicesEnv(store, clock, gateway, writer, cfg, services, stand_in)


@pytest.fixture
def services_env(tmp_path: Path) -> Iterator[ServicesEnv]:
    env = make_env(tmp_path / "kiosk.sqlite3")
    yield env
    env.store.close()

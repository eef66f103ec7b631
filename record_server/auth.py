"""Kiosk and staff credentials: random bearer tokens stored only as SHA-256 hashes, staff PINs
as scrypt hashes (library_core.pins), lockout after five wrong PINs, log-in rate limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from library_core.clock import Clock
from library_core.pins import hash_pin, validate_pin, verify_pin
from library_core.rules import PinLockout
from record_server import models as m
from record_server.changes import publish
from record_server.db import Database

KIOSK_PREFIX = "kt_"
STAFF_PREFIX = "st_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KioskPrincipal:
    kiosk_id: str


@dataclass(frozen=True)
class StaffPrincipal:
    staff_no: str
    role: str


class LoginRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MAX_KIOSK_NO = (1 << 16) - 1  # a visitor pass carries the kiosk number in two bytes


class KioskNumbersExhausted(Exception):
    """Every kiosk number 1..65535 is taken."""


def _free_kiosk_no(conn: Connection, kiosk_id: str) -> int:
    """The number a new kiosk gets: the one its id spells (``K07`` -> 7) when free, so kiosks
    keep the numbers they had in config before the server assigned them; else the lowest free."""
    taken = {int(n) for n in conn.execute(
        select(m.kiosks.c.kiosk_no).where(m.kiosks.c.kiosk_no.is_not(None))).scalars()}
    digits = kiosk_id.lstrip("Kk")
    if digits.isdigit() and 0 < int(digits) <= MAX_KIOSK_NO and int(digits) not in taken:
        return int(digits)
    for n in range(1, MAX_KIOSK_NO + 1):
        if n not in taken:
            return n
    raise KioskNumbersExhausted()


def enroll_kiosk(db: Database, kiosk_id: str, clock: Clock, *, branch: str = "main",
                 hours: int = 24) -> str:
    """Create or re-enroll a kiosk; returns a one-time code (only its hash is stored).

    A new kiosk is given its number (``kiosks.kiosk_no``, unique, 1..65535) here; a kiosk
    enrolled again keeps the number it had, so its ranges of card, receipt and visit numbers
    stay its own."""
    code = secrets.token_hex(8).upper()
    now = clock.now()
    expires = (now + dt.timedelta(hours=hours)).isoformat()
    with db.write() as conn:
        row = conn.execute(select(m.kiosks.c.kiosk_id, m.kiosks.c.kiosk_no)
                           .where(m.kiosks.c.kiosk_id == kiosk_id)).first()
        if row is None:
            conn.execute(m.kiosks.insert().values(
                kiosk_id=kiosk_id, branch=branch, created_at=now.isoformat(), next_seq=1,
                kiosk_no=_free_kiosk_no(conn, kiosk_id),
                enroll_code_hash=token_hash(code), enroll_expires_at=expires))
        else:
            values: dict[str, Any] = dict(branch=branch, enroll_code_hash=token_hash(code),
                                          enroll_expires_at=expires)
            if row.kiosk_no is None:
                values["kiosk_no"] = _free_kiosk_no(conn, kiosk_id)
            conn.execute(update(m.kiosks).where(m.kiosks.c.kiosk_id == kiosk_id).values(**values))
    return code


def kiosk_no(db: Database, kiosk_id: str) -> int | None:
    """The number the server assigned to this kiosk (None: no such kiosk)."""
    with db.read() as conn:
        value = conn.execute(select(m.kiosks.c.kiosk_no)
                             .where(m.kiosks.c.kiosk_id == kiosk_id)).scalar()
    return None if value is None else int(value)


def exchange_code(db: Database, kiosk_id: str, code: str, clock: Clock) -> str | None:
    """Trade a one-time enrollment code for the kiosk's token; None when the code is wrong."""
    now = clock.now()
    with db.write() as conn:
        row = conn.execute(select(m.kiosks).where(m.kiosks.c.kiosk_id == kiosk_id)).first()
        if (row is None or not row.enroll_code_hash
                or not secrets.compare_digest(row.enroll_code_hash, token_hash(code.upper()))
                or dt.datetime.fromisoformat(row.enroll_expires_at) < now):
            return None
        token = new_token(KIOSK_PREFIX)
        conn.execute(update(m.kiosks).where(m.kiosks.c.kiosk_id == kiosk_id).values(
            token_hash=token_hash(token), enroll_code_hash=None, enroll_expires_at=None,
            revoked_at=None))
    return token


def revoke_kiosk(db: Database, kiosk_id: str, clock: Clock) -> str | None:
    when = clock.now().isoformat()
    with db.write() as conn:
        res = conn.execute(update(m.kiosks).where(m.kiosks.c.kiosk_id == kiosk_id).values(
            revoked_at=when, token_hash=None, enroll_code_hash=None))
        return when if res.rowcount else None


_KIOSK_BY_TOKEN = select(m.kiosks.c.kiosk_id, m.kiosks.c.revoked_at).where(
    m.kiosks.c.token_hash == bindparam("token_hash"))


def kiosk_for_token(db: Database, token: str) -> KioskPrincipal | None:
    if not token.startswith(KIOSK_PREFIX):
        return None
    with db.read() as conn:
        return kiosk_on(conn, token)


def kiosk_on(conn: Connection, token: str) -> KioskPrincipal | None:
    """``kiosk_for_token`` on a connection the caller holds (the request's own read)."""
    if not token.startswith(KIOSK_PREFIX):
        return None
    row = conn.execute(_KIOSK_BY_TOKEN, {"token_hash": token_hash(token)}).first()
    if row is None or row.revoked_at:
        return None
    return KioskPrincipal(row.kiosk_id)


def create_staff(db: Database, *, staff_no: str, name: str, role: str, pin: str,
                 card_no: str | None = None, pin_cost: int | None = None) -> None:
    """Add or replace a staff member (PIN checked and hashed). Raises ValidationError."""
    validate_pin(pin)
    if role not in ("desk", "supervisor"):
        raise ValueError("role must be desk or supervisor")
    pin_hash = hash_pin(pin) if pin_cost is None else hash_pin(pin, n=pin_cost)
    values = {"name": name, "role": role, "pin_hash": pin_hash, "card_no": card_no,
              "active": True, "failed_attempts": 0, "locked": False,
              "locked_until": None}
    with db.write() as conn:
        exists = conn.execute(select(m.staff.c.staff_no).where(m.staff.c.staff_no == staff_no)).first()
        if exists:
            conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(**values))
        else:
            conn.execute(m.staff.insert().values(staff_no=staff_no, **values))
        publish(conn, {"staff": {staff_no}})


def unlock_staff(db: Database, staff_no: str) -> bool:
    with db.write() as conn:
        res = conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no)
                           .values(failed_attempts=0, locked=False, locked_until=None))
        return bool(res.rowcount)


LOCKOUT = PinLockout()  # the one PIN-lockout policy (library_core.rules)


def _locked(row: Any, now: dt.datetime) -> bool:
    """Locked by the policy until ``locked_until``; locked with no end (before migration 0003)
    until a supervisor unlocks it."""
    if not row.locked:
        return False
    if row.locked_until is None:
        return True
    return LOCKOUT.locked(dt.datetime.fromisoformat(row.locked_until), now)


def staff_login(db: Database, staff_no: str, pin: str, clock: Clock, *,
                hours: int = 12) -> tuple[str, StaffPrincipal, str]:
    """Check a staff PIN; returns (token, principal, expires_at). Raises LoginRefused.

    Five wrong PINs in a row lock the account for 30 minutes, or until a supervisor unlocks it
    (``library_core.rules.PinLockout``: the kiosk's policy too, see why there).
    """
    now = clock.now()
    with db.read() as conn:
        row = conn.execute(select(m.staff).where(m.staff.c.staff_no == staff_no)).first()
    if row is None or not row.active:
        verify_pin(pin, "scrypt$16384$8$1$00$00")  # same work either way
        raise LoginRefused("bad_credentials")
    if _locked(row, now):
        raise LoginRefused("locked")
    ok = verify_pin(pin, row.pin_hash)
    with db.write() as conn:
        if not ok:
            current = conn.execute(select(m.staff.c.failed_attempts, m.staff.c.locked)
                                   .where(m.staff.c.staff_no == staff_no)).first()
            failures = int(current.failed_attempts) if current and not current.locked else 0
            state = LOCKOUT.after_wrong(failures, now)
            until = state.locked_until
            conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(
                failed_attempts=state.failures, locked=until is not None,
                locked_until=until.isoformat() if until is not None else None))
            raise_reason = "locked" if until is not None else "bad_credentials"
        else:
            token = new_token(STAFF_PREFIX)
            expires = (now + dt.timedelta(hours=hours)).isoformat()
            conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no)
                         .values(failed_attempts=0, locked=False, locked_until=None))
            conn.execute(m.staff_sessions.insert().values(
                token_hash=token_hash(token), staff_no=staff_no, expires_at=expires))
            return token, StaffPrincipal(staff_no, row.role), expires
    raise LoginRefused(raise_reason)


def staff_for_token(db: Database, token: str, clock: Clock) -> StaffPrincipal | None:
    if not token.startswith(STAFF_PREFIX):
        return None
    with db.read() as conn:
        row = conn.execute(
            select(m.staff_sessions.c.expires_at, m.staff.c.staff_no, m.staff.c.role,
                   m.staff.c.active, m.staff.c.locked, m.staff.c.locked_until)
            .join(m.staff, m.staff.c.staff_no == m.staff_sessions.c.staff_no)
            .where(m.staff_sessions.c.token_hash == token_hash(token))).first()
    if (row is None or not row.active or _locked(row, clock.now())
            or dt.datetime.fromisoformat(row.expires_at) < clock.now()):
        return None
    return StaffPrincipal(row.staff_no, row.role)


class RateLimiter:
    """Sliding one-minute window per key (client address). ``check`` returns seconds to wait."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> int:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, int(60 - (now - hits[0])) + 1)
            hits.append(now)
            if len(self._hits) > 10000:
                self._hits = {k: v for k, v in self._hits.items() if v}
            return 0

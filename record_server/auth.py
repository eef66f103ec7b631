"""Kiosk and staff credentials: random bearer tokens stored only as SHA-256 hashes, staff PINs
as scrypt hashes (library_core.pins), the PIN lockout with backoff (library_core.rules.PinLockout)
and the log-in rate limit, both kept in the database so every server worker applies them."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from library_core.clock import Clock
from library_core.pins import hash_pin, validate_pin, verify_pin
from library_core.rules import PinLockout
from record_server import models as m
from record_server import pin_change
from record_server import staff_tables as st
from record_server.changes import publish
from record_server.db import Database

log = logging.getLogger(__name__)

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
    ``enroll_kiosk_on`` in its own transaction."""
    with db.write() as conn:
        return enroll_kiosk_on(conn, kiosk_id, clock.now(), branch=branch, hours=hours)


def enroll_kiosk_on(conn: Connection, kiosk_id: str, now: dt.datetime, *, branch: str = "main",
                    hours: int = 24) -> str:
    """``enroll_kiosk`` in the caller's transaction (the console writes its audit row in it
    too). Raises KioskNumbersExhausted.

    A new kiosk is given its number (``kiosks.kiosk_no``, unique, 1..65535) here; a kiosk
    enrolled again keeps the number it had, so its ranges of card, receipt and visit numbers
    stay its own."""
    code = secrets.token_hex(8).upper()
    expires = (now + dt.timedelta(hours=hours)).isoformat()
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
        _forget_offline_key(conn, kiosk_id)
    return token


def revoke_kiosk(db: Database, kiosk_id: str, clock: Clock) -> str | None:
    """Revoke a kiosk (its token and any code stop working); when, or None for no such kiosk.
    ``revoke_kiosk_on`` in its own transaction."""
    with db.write() as conn:
        return revoke_kiosk_on(conn, kiosk_id, clock.now())


def revoke_kiosk_on(conn: Connection, kiosk_id: str, now: dt.datetime) -> str | None:
    """``revoke_kiosk`` in the caller's transaction (the console audits it in the same one)."""
    when = now.isoformat()
    res = conn.execute(update(m.kiosks).where(m.kiosks.c.kiosk_id == kiosk_id).values(
        revoked_at=when, token_hash=None, enroll_code_hash=None))
    _forget_offline_key(conn, kiosk_id)
    if res.rowcount:  # whoever logged in there must change their PIN (docs/security.md 5.6)
        pin_change.mark_kiosk(conn, kiosk_id, when)
    return when if res.rowcount else None


def _forget_offline_key(conn: Connection, kiosk_id: str) -> None:
    """A re-enrolled or revoked kiosk gets a new offline key at its next staff log-in
    (``kiosk_staff.offline_key``): verifiers on its disk check no PIN any more."""
    conn.execute(delete(st.kiosk_offline_keys).where(st.kiosk_offline_keys.c.kiosk_id == kiosk_id))


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


_STAFF_LOGIN = select(m.staff.c.staff_no, m.staff.c.role, m.staff.c.pin_hash, m.staff.c.active,
                      m.staff.c.failed_attempts, m.staff.c.locked, m.staff.c.locked_until
                      ).where(m.staff.c.staff_no == bindparam("staff_no"))
_STAFF_LOGIN_FOR_UPDATE = _STAFF_LOGIN.with_for_update()
_COUNT_ATTEMPT = (update(m.staff).where(m.staff.c.staff_no == bindparam("_staff_no"))
                  .values(failed_attempts=bindparam("failures"), locked=bindparam("is_locked"),
                          locked_until=bindparam("until")))
_CLEAR_COUNT = (update(m.staff).where(m.staff.c.staff_no == bindparam("_staff_no"),
                                      m.staff.c.active.is_(True))
                .values(failed_attempts=0, locked=False, locked_until=None))


@functools.cache
def _stand_in_hash() -> str:
    """A PIN hash at the default cost that no PIN opens: checked when there is no real one, so
    an unknown or inactive staff number costs the same scrypt work as a real one."""
    return hash_pin(secrets.token_hex(8))


def staff_login(db: Database, staff_no: str, pin: str, clock: Clock, *, hours: int = 12,
                policy: PinLockout = LOCKOUT) -> tuple[str, StaffPrincipal, str]:
    """Check a staff PIN (``check_staff_pin``); returns (token, principal, expires_at) of a new
    server staff session. Raises LoginRefused."""
    token = new_token(STAFF_PREFIX)
    expires = (clock.now() + dt.timedelta(hours=hours)).isoformat()

    def open_session(conn: Connection, who: StaffPrincipal) -> None:
        conn.execute(m.staff_sessions.insert().values(
            token_hash=token_hash(token), staff_no=who.staff_no, expires_at=expires))

    who = check_staff_pin(db, staff_no, pin, clock, policy=policy, on_success=open_session)
    return token, who, expires


def check_staff_pin(db: Database, staff_no: str, pin: str, clock: Clock, *,
                    policy: PinLockout = LOCKOUT,
                    on_success: Callable[[Connection, StaffPrincipal], None] | None = None,
                    ) -> StaffPrincipal:
    """Check a staff PIN with the lockout; returns the member. Raises LoginRefused.

    Written once for every log-in that takes a staff PIN (``staff_login``, the kiosk staff
    sessions of ``record_server.kiosk_staff``). ``on_success`` runs in the transaction that
    clears the failure count, so what a right PIN opens is written with it or not at all.

    The lockout is ``policy`` (``library_core.rules.PinLockout``, the kiosk's too): every fifth
    wrong PIN in a row locks the account, for longer each time (backoff); a right PIN or a
    supervisor's ``unlock-staff`` clears it.

    Check and count are atomic: the attempt is counted *before* the slow PIN check, in a short
    transaction holding the staff row (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN
    IMMEDIATE`` on SQLite), as if it were wrong; a right PIN then clears the count. So N
    parallel attempts, in one server process or several, are counted one by one: the fifth
    locks and every later one finds the account locked, is not counted and never unlocks it.
    The lock is not held during scrypt, so other log-ins and pushes do not wait for it.

    Unknown, inactive, locked and wrong all raise ``LoginRefused`` after the same work (one
    scrypt check, one counting transaction); ``reason`` (``unknown``, ``inactive``,
    ``locked``, ``wrong``) is for the server's log only, the API answers them alike.
    """
    now = clock.now()
    with db.write() as conn:
        row = conn.execute(_STAFF_LOGIN if db.is_sqlite else _STAFF_LOGIN_FOR_UPDATE,
                           {"staff_no": staff_no}).first()
        reason: str | None = None
        if row is None:
            reason = "unknown"
        elif not row.active:
            reason = "inactive"
        elif _locked(row, now):
            reason = "locked"
        state = policy.after_wrong(int(row.failed_attempts) if row is not None else 0, now)
        if reason is None or row is None:
            until = state.locked_until
            counted = {"failures": state.failures, "is_locked": until is not None,
                       "until": until.isoformat() if until else None}
        else:  # inactive or locked: not counted (the same statement, writing what is there)
            counted = {"failures": row.failed_attempts, "is_locked": row.locked,
                       "until": row.locked_until}
        conn.execute(_COUNT_ATTEMPT, {"_staff_no": staff_no, **counted})
    ok = verify_pin(pin, row.pin_hash if row is not None and reason != "inactive"
                    else _stand_in_hash())  # the same work whatever the answer
    if reason is not None or not ok:
        reason = reason or "wrong"
        if reason == "wrong" and state.locked_until is not None:
            log.warning("staff %s locked until %s after %d wrong PINs in a row", staff_no,
                        state.locked_until.isoformat(), state.failures)
        raise LoginRefused(reason)
    if row is None:  # reason is "unknown" then: for the type checker
        raise LoginRefused("unknown")
    who = StaffPrincipal(staff_no, row.role)
    with db.write() as conn:
        if not conn.execute(_CLEAR_COUNT, {"_staff_no": staff_no}).rowcount:
            raise LoginRefused("inactive")  # deactivated while its PIN was being checked
        if on_success is not None:
            on_success(conn, who)
    return who


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
    """At most ``per_minute`` hits per bucket (``<what>:<client address>``) in any minute,
    counted in the database (``login_hits``) so that every server worker sees the same count.

    Each hit is one atomic upsert (``INSERT ... ON CONFLICT DO UPDATE SET hits = hits + 1
    RETURNING hits``) into the row of its bucket and clock minute; the count is the sliding
    estimate ``this minute's hits + last minute's * (part of a minute not yet past)``, so a
    burst across the turn of a minute is still refused. ``check`` returns 0, or the seconds to
    wait (refused hits count too: hammering keeps the bucket shut). Rows older than the last
    minute are deleted when a bucket starts a new minute. The enrollment endpoint uses it too.
    """

    def __init__(self, db: Database, per_minute: int, clock: Clock) -> None:
        self.db = db
        self.per_minute = per_minute
        self.clock = clock

    def check(self, bucket: str) -> int:
        now = self.clock.now().timestamp()
        minute = int(now // 60)
        into = now - minute * 60
        bucket = bucket[:200]
        with self.db.write() as conn:
            dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(m.login_hits).values(bucket=bucket, minute=minute, hits=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=[m.login_hits.c.bucket, m.login_hits.c.minute],
                set_={"hits": m.login_hits.c.hits + 1}).returning(m.login_hits.c.hits)
            hits = int(conn.execute(stmt).scalar_one())
            before = conn.execute(select(m.login_hits.c.hits).where(
                m.login_hits.c.bucket == bucket, m.login_hits.c.minute == minute - 1)).scalar()
        if hits == 1:
            self._forget_before(minute - 1)
        if hits + int(before or 0) * (60 - into) / 60 <= self.per_minute:
            return 0
        return max(1, int(60 - into) + 1)  # at most until the next minute

    def _forget_before(self, minute: int) -> None:
        """Delete the rows no count reads any more (in a transaction of its own: a clash
        between two workers clearing the same rows only delays the clean-up)."""
        try:
            with self.db.write() as conn:
                conn.execute(delete(m.login_hits).where(m.login_hits.c.minute < minute))
        except DBAPIError as err:
            log.debug("login_hits clean-up skipped: %s", err)

"""Staff web passwords (the console and ``POST /api/v1/staff/login``), never the kiosk PIN.

A password is a scrypt hash (``library_core.pins.hash_pin``: the standard library's
``hashlib.scrypt``, salted, compared in constant time) in ``staff.password_hash``. It is set
only through a one-time code that a supervisor issues (``issue_code``; ``record-server
create-staff --issue-code`` for the first supervisor, or ``--password-env``), which also clears
the old password and ends the member's console sessions. Wrong passwords and wrong codes count
in the member's own ``password_failures`` by the one lockout policy
(``library_core.rules.PinLockout``), apart from the PIN's count: a wrong web password never
locks a desk member out of the kiosks, and the reverse.

Check and count are atomic as in ``auth.check_staff_pin``: the attempt is counted before the
slow check, in a transaction holding the staff row, then cleared by a right answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from typing import Any

from sqlalchemy import Connection, select, update

from library_core.clock import Clock
from library_core.errors import ValidationError
from library_core.pins import hash_pin, verify_pin
from library_core.rules import PinLockout
from record_server import models as m
from record_server.auth import (
    LOCKOUT,
    STAFF_PREFIX,
    LoginRefused,
    StaffPrincipal,
    new_token,
    token_hash,
)
from record_server.db import Database

PASSWORD_COST = 1 << 14  # scrypt n (r=8: 16 MiB; 2^15 passes OpenSSL's default 32 MiB cap)
MIN_LENGTH = 10
MAX_LENGTH = 128
CODE_HOURS = 24
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone
CONSOLE_ROLES = ("auditor", "desk", "supervisor")  # auditor: the console only, read-only


def validate_password(password: str, *, staff_no: str, pin_hash: str | None) -> str:
    """A web password: 10 to 128 characters, not only digits, not the staff number, and not
    the member's kiosk PIN. Raises ValidationError (``console.password.*`` message ids)."""
    if len(password) < MIN_LENGTH:
        raise ValidationError("console.password.too_short",
                              f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValidationError("console.password.too_long",
                              f"a password has at most {MAX_LENGTH} characters")
    if password.isdigit():
        raise ValidationError("console.password.digits_only", "a password is not only digits")
    if staff_no.lower() in password.lower():
        raise ValidationError("console.password.has_staff_no",
                              "a password does not hold the staff number")
    if pin_hash and verify_pin(password, pin_hash):
        raise ValidationError("console.password.is_pin", "the web password is not the PIN")
    return password


def hash_password(password: str, *, cost: int = PASSWORD_COST) -> str:
    return hash_pin(password, n=cost)


def new_code() -> str:
    """A one-time code: 10 characters (50 bits) in two groups, ``ABCDE-FGH23``."""
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def _code_hash(code: str) -> str:
    cleaned = code.strip().upper().replace(" ", "").replace("-", "")
    return hashlib.sha256(b"console code v1\x00" + cleaned.encode("utf-8", "replace")).hexdigest()


def issue_code(conn: Connection, staff_no: str, now: dt.datetime, *,
               hours: int = CODE_HOURS) -> str | None:
    """Give ``staff_no`` a one-time code to set a web password (only its hash is kept); the old
    password stops working and the member's console sessions end. None: no such member."""
    code = new_code()
    res = conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(
        password_hash=None, password_code_hash=_code_hash(code),
        password_code_expires_at=(now + dt.timedelta(hours=hours)).isoformat(),
        password_failures=0, password_locked_until=None))
    if not res.rowcount:
        return None
    conn.execute(m.console_sessions.delete().where(m.console_sessions.c.staff_no == staff_no))
    return code


def set_password_now(conn: Connection, staff_no: str, password: str, *,
                     cost: int = PASSWORD_COST) -> bool:
    """Set a web password directly (``create-staff --password-env``, demo and test set-up);
    checked by ``validate_password``. Raises ValidationError; False: no such member."""
    row = conn.execute(select(m.staff.c.pin_hash).where(m.staff.c.staff_no == staff_no)).first()
    if row is None:
        return False
    validate_password(password, staff_no=staff_no, pin_hash=row.pin_hash)
    conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(
        password_hash=hash_password(password, cost=cost), password_code_hash=None,
        password_code_expires_at=None, password_failures=0, password_locked_until=None))
    return True


@functools.cache
def _stand_in_hash(cost: int) -> str:
    """A hash no password opens, checked when there is no real one: the same scrypt work."""
    return hash_password(secrets.token_hex(16), cost=cost)


_ROW = select(m.staff.c.staff_no, m.staff.c.role, m.staff.c.active, m.staff.c.pin_hash,
              m.staff.c.password_hash, m.staff.c.password_failures,
              m.staff.c.password_locked_until, m.staff.c.password_code_hash,
              m.staff.c.password_code_expires_at)


def _count_first(db: Database, staff_no: str, now: dt.datetime,
                 policy: PinLockout) -> tuple[Any, str | None]:
    """Count the attempt as wrong before checking it, holding the staff row. Returns the row
    and the reason it is refused whatever the answer (unknown, inactive, locked) or None."""
    query = _ROW.where(m.staff.c.staff_no == staff_no)
    with db.write() as conn:
        row = conn.execute(query if db.is_sqlite else query.with_for_update()).first()
        if row is None:
            return None, "unknown"
        if not row.active:
            return row, "inactive"
        until = row.password_locked_until
        if until and policy.locked(dt.datetime.fromisoformat(until), now):
            return row, "locked"
        state = policy.after_wrong(int(row.password_failures or 0), now)
        conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(
            password_failures=state.failures,
            password_locked_until=state.locked_until.isoformat() if state.locked_until else None))
    return row, None


def _clear(conn: Connection, staff_no: str, **values: Any) -> bool:
    return bool(conn.execute(update(m.staff).where(
        m.staff.c.staff_no == staff_no, m.staff.c.active.is_(True)).values(
        password_failures=0, password_locked_until=None, **values)).rowcount)


def check_password(db: Database, staff_no: str, password: str, clock: Clock, *,
                   policy: PinLockout = LOCKOUT, cost: int = PASSWORD_COST) -> StaffPrincipal:
    """Check a web password with its lockout; returns the member. Raises LoginRefused.

    Unknown, inactive, locked, no password yet and wrong all raise after the same work;
    ``reason`` is for the server's log only (``no_password`` included). A PIN typed as the
    password is simply wrong: the PIN's hash is never consulted here.
    """
    row, reason = _count_first(db, staff_no, clock.now(), policy)
    stored = row.password_hash if row is not None and reason is None else None
    ok = verify_pin(password, stored or _stand_in_hash(cost))
    if reason is None and not stored:
        reason = "no_password"
    if reason is not None or not ok or row is None:
        raise LoginRefused(reason or "wrong")
    with db.write() as conn:
        if not _clear(conn, staff_no):
            raise LoginRefused("inactive")
    return StaffPrincipal(row.staff_no, row.role)


def redeem_code(db: Database, staff_no: str, code: str, new_password: str, clock: Clock, *,
                policy: PinLockout = LOCKOUT, cost: int = PASSWORD_COST) -> StaffPrincipal:
    """First log-in: trade the one-time code for a new web password. Raises LoginRefused
    (unknown, inactive, locked, no_code, expired, wrong: one answer to the caller) and
    ValidationError for a password ``validate_password`` refuses (nothing changes then, and
    the code stays usable until it expires)."""
    now = clock.now()
    with db.read() as conn:  # a password refused costs no attempt
        pin_hash = conn.execute(select(m.staff.c.pin_hash)
                                .where(m.staff.c.staff_no == staff_no)).scalar()
    validate_password(new_password, staff_no=staff_no, pin_hash=pin_hash)
    row, reason = _count_first(db, staff_no, now, policy)
    expected = row.password_code_hash if row is not None and reason is None else None
    ok = secrets.compare_digest(expected or "-", _code_hash(code))
    if reason is None and not expected:
        reason = "no_code"
    elif reason is None and row is not None and (
            not row.password_code_expires_at
            or dt.datetime.fromisoformat(row.password_code_expires_at) < now):
        reason = "expired"
    hashed = hash_password(new_password, cost=cost)
    if reason is not None or not ok or row is None:
        raise LoginRefused(reason or "wrong")
    with db.write() as conn:
        if not _clear(conn, staff_no, password_hash=hashed, password_code_hash=None,
                      password_code_expires_at=None):
            raise LoginRefused("inactive")
    return StaffPrincipal(row.staff_no, row.role)


def unlock_password(conn: Connection, staff_no: str) -> bool:
    return bool(conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(
        password_failures=0, password_locked_until=None)).rowcount)


def open_staff_session(db: Database, who: StaffPrincipal, clock: Clock, *,
                       hours: int) -> tuple[str, str]:
    """A JSON API staff token (``st_``) for a member whose password was just checked;
    returns (token, expires_at). Only the token's hash is stored."""
    token = new_token(STAFF_PREFIX)
    expires = (clock.now() + dt.timedelta(hours=hours)).isoformat()
    with db.write() as conn:
        conn.execute(m.staff_sessions.insert().values(
            token_hash=token_hash(token), staff_no=who.staff_no, expires_at=expires))
    return token, expires

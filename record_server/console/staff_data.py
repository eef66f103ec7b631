"""Staff administration for the console's staff page and ``record-server create-staff``:
create, role, reset PIN, unlock, deactivate. Each returns the row's state before and after
for the audit log; the caller records it in the same transaction.

Auditors are console-only: no PIN (``pin_hash`` holds ``NO_PIN``, which no PIN matches), never
published to kiosks (the kiosk contract knows desk and supervisor only), and a member cannot
move between auditor and a kiosk role (make a separate account).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, select, update

from library_core.errors import ValidationError
from library_core.pins import hash_pin, validate_pin
from record_server import models as m
from record_server import pin_change
from record_server.changes import publish
from record_server.console.sessions import end_sessions_of

NO_PIN = "!no-pin"  # not a scrypt hash: verify_pin is False for every PIN
KIOSK_ROLES = ("desk", "supervisor")
SHOWN = ("staff_no", "name", "role", "card_no", "active", "failed_attempts", "locked",
         "locked_until", "password_failures", "password_locked_until")


def state(conn: Connection, staff_no: str) -> dict[str, Any] | None:
    """What the audit log and the staff page show of a member (no hashes)."""
    row = conn.execute(select(*(m.staff.c[c] for c in SHOWN),
                              m.staff.c.password_hash.is_not(None).label("has_password"))
                       .where(m.staff.c.staff_no == staff_no)).first()
    return None if row is None else dict(row._mapping)


def members(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(*(m.staff.c[c] for c in SHOWN),
                               m.staff.c.password_hash.is_not(None).label("has_password"),
                               m.staff.c.password_code_expires_at)
                        .order_by(m.staff.c.staff_no)).all()
    return [dict(r._mapping) for r in rows]


def _publish(conn: Connection, staff_no: str, role: str) -> None:
    if role in KIOSK_ROLES:
        publish(conn, {"staff": {staff_no}})


def create_auditor(conn: Connection, *, staff_no: str, name: str) -> None:
    """Add a console-only auditor. Raises ValidationError (``console.staff.exists``)."""
    if state(conn, staff_no) is not None:
        raise ValidationError("console.staff.exists", "that staff number is taken")
    conn.execute(m.staff.insert().values(
        staff_no=staff_no, name=name, role="auditor", pin_hash=NO_PIN, card_no=None,
        active=True, failed_attempts=0, locked=False, locked_until=None, password_failures=0))


def new_pin() -> str:
    """A random 6-digit PIN that ``validate_pin`` accepts (shown once to the supervisor)."""
    while True:
        pin = f"{secrets.randbelow(10**6):06d}"
        try:
            return validate_pin(pin)
        except ValidationError:
            continue


def create_member(conn: Connection, *, staff_no: str, name: str, role: str,
                  pin_cost: int | None = None) -> str | None:
    """A new member: an auditor (returns None), or desk/supervisor with a random first PIN
    (returned, to be shown once) published to kiosks. Raises ValidationError."""
    if role == "auditor":
        create_auditor(conn, staff_no=staff_no, name=name)
        return None
    if role not in KIOSK_ROLES:
        raise ValidationError("console.staff.bad_role", "unknown role")
    if state(conn, staff_no) is not None:
        raise ValidationError("console.staff.exists", "that staff number is taken")
    pin = new_pin()
    conn.execute(m.staff.insert().values(
        staff_no=staff_no, name=name, role=role,
        pin_hash=hash_pin(pin) if pin_cost is None else hash_pin(pin, n=pin_cost),
        card_no=None, active=True, failed_attempts=0, locked=False, locked_until=None,
        password_failures=0))
    _publish(conn, staff_no, role)
    return pin


def set_role(conn: Connection, staff_no: str, role: str) -> None:
    """Desk <-> supervisor. Raises ValidationError (``console.staff.auditor_role``)."""
    before = state(conn, staff_no)
    if before is None:
        raise ValidationError("console.error.not_found", "no such member")
    if role not in KIOSK_ROLES or before["role"] not in KIOSK_ROLES:
        raise ValidationError("console.staff.auditor_role",
                              "auditor is an account of its own")
    conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(role=role))
    end_sessions_of(conn, staff_no)  # the new role applies from the next log-in
    _publish(conn, staff_no, role)


def reset_pin(conn: Connection, staff_no: str, *, pin_cost: int | None = None) -> str:
    """A new random PIN (returned, shown once); the PIN's lock is cleared."""
    before = state(conn, staff_no)
    if before is None or before["role"] not in KIOSK_ROLES:
        raise ValidationError("console.staff.no_pin", "this member has no kiosk PIN")
    pin = new_pin()
    conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(
        pin_hash=hash_pin(pin) if pin_cost is None else hash_pin(pin, n=pin_cost),
        failed_attempts=0, locked=False, locked_until=None))
    pin_change.clear(conn, staff_no)  # a new PIN: no longer one a revoked kiosk may have seen
    _publish(conn, staff_no, str(before["role"]))
    return pin


def unlock(conn: Connection, staff_no: str) -> None:
    """Clear both locks: the kiosk PIN's and the web password's."""
    conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(
        failed_attempts=0, locked=False, locked_until=None, password_failures=0,
        password_locked_until=None))


def set_active(conn: Connection, staff_no: str, active: bool) -> None:
    before = state(conn, staff_no)
    if before is None:
        raise ValidationError("console.error.not_found", "no such member")
    conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no).values(active=active))
    if not active:
        end_sessions_of(conn, staff_no)
        conn.execute(m.staff_sessions.delete().where(m.staff_sessions.c.staff_no == staff_no))
    _publish(conn, staff_no, str(before["role"]))

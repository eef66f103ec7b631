"""Staff log-in at a kiosk, checked by the server (docs/security.md 5.1, 5.4).

``open_session`` checks the PIN with ``auth.check_staff_pin`` (the atomic count-before-check and
the one lockout, for every kiosk and worker alike) and, in the transaction that clears the
count, stores a kiosk staff session with a random MAC key, and an offline verifier for this
kiosk: ``V`` and the kiosk's offline key ``K_k`` go back to the kiosk, the MAC key ``M`` of
offline proofs stays here. Nothing in the answer logs in anywhere: no ``st_`` token. A member
marked *PIN must change* (``record_server.pin_change``, a revoked kiosk) gets no session.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from library_core import contract as c
from library_core.clock import Clock
from library_core.codes import is_card_no
from library_core.rules import PinLockout
from library_core.staff_rules import OfflineStaffPolicy
from record_server import auth, pin_change
from record_server import models as m
from record_server import staff_tables as st
from record_server.db import Database

log = logging.getLogger(__name__)


class PinMustChange(Exception):
    """A right PIN of a member who must change it (``record_server.pin_change``): no session.
    The API answers 403 ``pin_must_change``; a supervisor's PIN reset clears it."""

    def __init__(self, staff_no: str) -> None:
        super().__init__(staff_no)
        self.staff_no = staff_no


@dataclass(frozen=True)
class OfflineGrant:
    verifier_id: str
    verifier: bytes  # V
    valid_until: str
    offline_key: bytes  # K_k: the kiosk holds it in memory only
    policy: OfflineStaffPolicy  # the server's: the kiosk applies the stricter of it and its own


@dataclass(frozen=True)
class KioskStaffGrant:
    session_id: str
    session_key: bytes
    staff_no: str
    name: str
    role: str
    started_at: str
    expires_at: str
    offline: OfflineGrant | None


def _staff_no_of(db: Database, identifier: str) -> str:
    """The staff number for a staff number or a staff card number (unchanged when unknown:
    ``check_staff_pin`` then refuses it after the same work as any other)."""
    identifier = identifier.strip().upper()
    if not is_card_no(identifier):
        return identifier
    with db.read() as conn:
        found = conn.execute(select(m.staff.c.staff_no)
                             .where(m.staff.c.card_no == identifier)).scalar()
    return str(found) if found else identifier


def offline_key(conn: Connection, kiosk_id: str, now: str) -> bytes:
    """This kiosk's offline key ``K_k``, made on first use (replaced at re-enrollment and
    revocation: ``forget_offline_key``)."""
    row = conn.execute(select(st.kiosk_offline_keys.c.offline_key)
                       .where(st.kiosk_offline_keys.c.kiosk_id == kiosk_id)).scalar()
    if row:
        return bytes.fromhex(str(row))
    key = secrets.token_bytes(32)
    conn.execute(st.kiosk_offline_keys.insert().values(kiosk_id=kiosk_id, offline_key=key.hex(),
                                                      created_at=now))
    return key


def forget_offline_key(conn: Connection, kiosk_id: str) -> None:
    """Drop a kiosk's offline key (its verifiers' MAC keys stay, to check what it made before)."""
    conn.execute(delete(st.kiosk_offline_keys).where(st.kiosk_offline_keys.c.kiosk_id == kiosk_id))


def open_session(db: Database, *, kiosk_id: str, identifier: str, pin: str, clock: Clock,
                 minutes: int = 30, policy: PinLockout = auth.LOCKOUT,
                 offline: OfflineStaffPolicy | None = None) -> KioskStaffGrant:
    """Check a staff member's PIN for a log-in at ``kiosk_id``. Raises auth.LoginRefused
    (unknown, inactive, locked, wrong: the API answers them alike)."""
    now = clock.now()
    staff_no = _staff_no_of(db, identifier)
    session_id = secrets.token_urlsafe(24)
    session_key = secrets.token_bytes(32)
    expires = (now + dt.timedelta(minutes=minutes)).isoformat()
    grants: list[OfflineGrant] = []
    names: list[str] = []

    def store(conn: Connection, who: auth.StaffPrincipal) -> None:
        if pin_change.required(conn, who.staff_no):  # the PIN was right, and must change
            names.append(pin_change.MUST_CHANGE)
            return
        conn.execute(st.kiosk_staff_sessions.insert().values(
            session_id=session_id, kiosk_id=kiosk_id, staff_no=who.staff_no, role=who.role,
            session_key=session_key.hex(), started_at=now.isoformat(), expires_at=expires))
        names.append(str(conn.execute(select(m.staff.c.name)
                                      .where(m.staff.c.staff_no == who.staff_no)).scalar()))
        if offline is None or not offline.enabled:
            return
        key = offline_key(conn, kiosk_id, now.isoformat())
        until = (now + dt.timedelta(hours=offline.verifier_hours)).isoformat()
        ctx = dict(kiosk_id=kiosk_id, staff_no=who.staff_no, role=who.role, valid_until=until,
                   pin=pin)
        verifier_id = secrets.token_urlsafe(24)
        conn.execute(st.offline_verifiers.insert().values(
            verifier_id=verifier_id, kiosk_id=kiosk_id, staff_no=who.staff_no, role=who.role,
            mac_key=c.offline_mac_key(key, **ctx).hex(), valid_from=now.isoformat(),
            valid_until=until))
        grants.append(OfflineGrant(verifier_id, c.offline_verifier(key, **ctx), until, key,
                                   offline))

    who = auth.check_staff_pin(db, staff_no, pin, clock, policy=policy, on_success=store)
    if names == [pin_change.MUST_CHANGE]:
        log.info("kiosk staff log-in of %s at %s refused: PIN must change", who.staff_no,
                 kiosk_id)
        raise PinMustChange(who.staff_no)
    log.info("kiosk staff session for %s at %s until %s", who.staff_no, kiosk_id, expires)
    return KioskStaffGrant(session_id, session_key, who.staff_no, names[0] if names else "",
                           who.role, now.isoformat(), expires, grants[0] if grants else None)

"""Staff log-in at a kiosk: the server checks the PIN and returns a short-lived kiosk staff
session (a MAC key for the staff events made under it) and an offline verifier
(docs/security.md 5.1, 5.4). It is no ``st_`` token and opens no server endpoint."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from pydantic import Field

from library_core.contract.types import Pin, Strict
from library_core.rules import PinLockout
from record_server import auth, kiosk_staff, pin_change
from record_server.api.deps import (
    ERRORS,
    ClockDep,
    ConfigDep,
    DbDep,
    KioskDep,
    KioskIdPath,
    LimiterDep,
    rate_limit,
)

log = logging.getLogger("record_server.app")
router = APIRouter(prefix="/api/v1/kiosks", tags=["kiosk"])

REFUSED = "wrong staff number or PIN, or the account cannot log in now"


class KioskStaffLogin(Strict):
    """A staff number (``S0001``) or a staff card number, and the PIN typed at the kiosk."""

    staff: Annotated[str, Field(pattern=r"^(S\d{4,7}|2\d{13})$", max_length=14)]
    pin: Pin


class OfflineVerifier(Strict):
    verifier_id: str
    verifier: str  # V, hex
    valid_until: str
    offline_key: str  # K_k, hex: the kiosk keeps it in memory only
    # the server's offline staff policy: the kiosk applies the stricter of it and its own
    cash_limit_fen: int
    day_cash_limit_fen: int
    allow_close_day: bool


class KioskStaffSession(Strict):
    session_id: str
    session_key: str  # hex, 32 bytes
    staff_no: str
    name: str
    role: str
    started_at: str
    expires_at: str
    offline: OfflineVerifier | None = None


@router.post("/{kiosk_id}/staff-sessions", response_model=KioskStaffSession, responses=ERRORS)
def open_staff_session(kiosk_id: KioskIdPath, body: KioskStaffLogin, request: Request,
                       kiosk: KioskDep, db: DbDep, clock: ClockDep, config: ConfigDep,
                       limiter: LimiterDep) -> KioskStaffSession:
    """Unknown, inactive, locked and wrong are one answer (401, the same body, after the same
    scrypt work), as at ``/api/v1/staff/login``; the reason goes to the server's log only."""
    rate_limit(request, limiter, f"kiosk-staff:{kiosk.kiosk_id}")
    try:
        grant = kiosk_staff.open_session(
            db, kiosk_id=kiosk.kiosk_id, identifier=body.staff, pin=body.pin, clock=clock,
            minutes=config.staff_kiosk_session_minutes,
            policy=PinLockout(steps_s=config.lockout_steps_s), offline=config.offline_staff)
    except auth.LoginRefused as err:
        log.info("kiosk staff log-in refused at %s: %s (%s)", kiosk.kiosk_id, body.staff,
                 err.reason)
        raise HTTPException(401, REFUSED) from None
    except kiosk_staff.PinMustChange:  # a right PIN that must change: named (5.7 step 4)
        raise HTTPException(403, pin_change.MUST_CHANGE) from None
    off = grant.offline
    return KioskStaffSession(
        session_id=grant.session_id, session_key=grant.session_key.hex(),
        staff_no=grant.staff_no, name=grant.name, role=grant.role,
        started_at=grant.started_at, expires_at=grant.expires_at,
        offline=None if off is None else OfflineVerifier(
            verifier_id=off.verifier_id, verifier=off.verifier.hex(),
            valid_until=off.valid_until, offline_key=off.offline_key.hex(),
            cash_limit_fen=off.policy.cash_limit_fen,
            day_cash_limit_fen=off.policy.day_cash_limit_fen,
            allow_close_day=off.policy.allow_close_day))

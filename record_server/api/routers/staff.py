"""Staff log-in: a staff token for the desk endpoints."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request

from library_core.rules import PinLockout
from record_server import auth
from record_server import schemas as s
from record_server.api.deps import ERRORS, ClockDep, ConfigDep, DbDep, LimiterDep, rate_limit

log = logging.getLogger("record_server.app")
router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

REFUSED = "wrong staff number or PIN, or the account cannot log in now"


@router.post("/login", response_model=s.StaffTokenResponse, responses=ERRORS)
def staff_login(body: s.StaffLogin, request: Request, db: DbDep, clock: ClockDep,
                config: ConfigDep, limiter: LimiterDep) -> s.StaffTokenResponse:
    """Unknown, inactive, locked and wrong are one answer (401, the same body, after the same
    scrypt work): a caller learns neither which staff numbers exist nor which are locked. The
    reason goes to the server's log only."""
    rate_limit(request, limiter, "login")
    try:
        token, who, expires = auth.staff_login(
            db, body.staff_no, body.pin, clock, hours=config.staff_session_hours,
            policy=PinLockout(steps_s=config.lockout_steps_s))
    except auth.LoginRefused as err:
        log.info("staff log-in refused: %s (%s)", body.staff_no, err.reason)
        raise HTTPException(401, REFUSED) from None
    request.state.principal = f"staff:{who.staff_no}"
    return s.StaffTokenResponse(token=token, staff_no=who.staff_no, role=who.role,
                                expires_at=expires)

"""Staff log-in: a staff token for the desk endpoints, with the web password (never the PIN).

The PIN opens only a kiosk staff session (``/api/v1/kiosks/{id}/staff-sessions``, with a live
kiosk token); the web password is ``staff.password_hash`` (``record_server.passwords``), set
from a one-time code a supervisor issues (the console, or ``create-staff --issue-code``).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from pydantic import StringConstraints

from library_core.contract import StaffNo, Strict
from library_core.rules import PinLockout
from record_server import auth, passwords
from record_server import schemas as s
from record_server.api.deps import ERRORS, ClockDep, ConfigDep, DbDep, LimiterDep, rate_limit

log = logging.getLogger("record_server.app")
router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

REFUSED = "wrong staff number or password, or the account cannot log in now"


class StaffPasswordLogin(Strict):
    """A back-office log-in: staff number and web password (a ``pin`` field is refused, 422)."""

    staff_no: StaffNo
    password: Annotated[str, StringConstraints(min_length=1, max_length=passwords.MAX_LENGTH)]


@router.post("/login", response_model=s.StaffTokenResponse, responses=ERRORS)
def staff_login(body: StaffPasswordLogin, request: Request, db: DbDep, clock: ClockDep,
                config: ConfigDep, limiter: LimiterDep) -> s.StaffTokenResponse:
    """Unknown, inactive, locked, no password yet and wrong are one answer (401, the same
    body, after the same scrypt work): a caller learns neither which staff numbers exist nor
    which are locked. The reason goes to the server's log only. A PIN is simply wrong."""
    rate_limit(request, limiter, "login")
    try:
        who = passwords.check_password(db, body.staff_no, body.password, clock,
                                       policy=PinLockout(steps_s=config.lockout_steps_s))
    except auth.LoginRefused as err:
        log.info("staff log-in refused: %s (%s)", body.staff_no, err.reason)
        raise HTTPException(401, REFUSED) from None
    if who.role not in ("desk", "supervisor"):  # auditors read in the console, change nothing
        raise HTTPException(403, "auditors use the console (read-only), not the staff API")
    token, expires = passwords.open_staff_session(db, who, clock,
                                                  hours=config.staff_session_hours)
    request.state.principal = f"staff:{who.staff_no}"
    return s.StaffTokenResponse(token=token, staff_no=who.staff_no, role=who.role,
                                expires_at=expires)

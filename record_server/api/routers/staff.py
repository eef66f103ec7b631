"""Staff log-in: a staff token for the desk endpoints."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from record_server import auth
from record_server import schemas as s
from record_server.api.deps import ERRORS, ClockDep, ConfigDep, DbDep, LimiterDep, rate_limit

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])


@router.post("/login", response_model=s.StaffTokenResponse,
             responses=ERRORS | {423: {"model": s.Problem}})
def staff_login(body: s.StaffLogin, request: Request, db: DbDep, clock: ClockDep,
                config: ConfigDep, limiter: LimiterDep) -> s.StaffTokenResponse:
    rate_limit(request, limiter, "login")
    try:
        token, who, expires = auth.staff_login(db, body.staff_no, body.pin, clock,
                                               hours=config.staff_session_hours)
    except auth.LoginRefused as err:
        if err.reason == "locked":
            raise HTTPException(423, "account locked after too many wrong PINs") from None
        raise HTTPException(401, "wrong staff number or PIN") from None
    request.state.principal = f"staff:{who.staff_no}"
    return s.StaffTokenResponse(token=token, staff_no=who.staff_no, role=who.role,
                                expires_at=expires)

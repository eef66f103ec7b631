"""What the routes get injected per request: the database (a read or write connection, or the
``Database`` for work that runs its own transactions), the clock, the settings, and the caller
(kiosk, staff, supervisor) from the bearer token.

``create_app`` puts the shared objects on ``app.state``; nothing here holds global state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection

from library_core.clock import Clock
from record_server import auth
from record_server import schemas as s
from record_server.config import ServerConfig
from record_server.db import Database
from record_server.ingest.push import PushPause

KioskIdPath = Annotated[str, Path(pattern=r"^K\d{2,4}$", max_length=8)]
CardNoPath = Annotated[str, Path(pattern=r"^2\d{13}$", max_length=14)]
BarcodePath = Annotated[str, Path(pattern=r"^3\d{13}$", max_length=14)]
LoanIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]+$", max_length=64)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": s.Problem}, 403: {"model": s.Problem}, 413: {"model": s.Problem},
    422: {"model": s.Problem}, 429: {"model": s.Problem},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": s.Problem}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": s.Problem}}

bearer = HTTPBearer(auto_error=False, description="Kiosk token (kt_...) or staff token (st_...)")


async def get_db(request: Request) -> Database:
    return cast(Database, request.app.state.db)


async def get_config(request: Request) -> ServerConfig:
    return cast(ServerConfig, request.app.state.config)


async def get_clock(request: Request) -> Clock:
    return cast(Clock, request.app.state.clock)


async def get_push_pause(request: Request) -> PushPause | None:
    return cast("PushPause | None", request.app.state.push_pause)


async def get_login_limiter(request: Request) -> auth.RateLimiter:
    return cast(auth.RateLimiter, request.app.state.login_limiter)


# The getters above only read app.state: ``async def`` keeps them on the event loop. A plain
# ``def`` dependency costs a hop through the thread pool, and with several per request the
# pool's queue was most of a request's time under 200 kiosks (bench 5: p99 188 -> 426 ms).
DbDep = Annotated[Database, Depends(get_db)]
ConfigDep = Annotated[ServerConfig, Depends(get_config)]
ClockDep = Annotated[Clock, Depends(get_clock)]
PushPauseDep = Annotated[PushPause | None, Depends(get_push_pause)]
LimiterDep = Annotated[auth.RateLimiter, Depends(get_login_limiter)]


def read_connection(db: DbDep) -> Iterator[Connection]:
    """A read transaction for the request."""
    with db.read() as conn:
        yield conn


def write_connection(db: DbDep) -> Iterator[Connection]:
    """A write transaction for the request: committed when the route returns, before the
    answer is sent; rolled back when it raises (``NotFound``, ``HTTPException``, anything)."""
    with db.write() as conn:
        yield conn


# scope="function": the transaction ends when the route function does, so a client never
# hears "done" about a write that has not committed yet.
ReadConn = Annotated[Connection, Depends(read_connection, scope="function")]
WriteConn = Annotated[Connection, Depends(write_connection, scope="function")]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _token(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return creds.credentials


def _kiosk(request: Request, kiosk_id: str, token: str, found: auth.KioskPrincipal | None,
           db: Database, clock: Clock) -> auth.KioskPrincipal:
    """``found`` (the token's kiosk) if it is the kiosk in the path; 401 / 403 otherwise."""
    if found is None:
        if auth.staff_for_token(db, token, clock) is not None:
            raise HTTPException(403, "staff tokens cannot use kiosk sync endpoints")
        raise HTTPException(401, "unknown or revoked kiosk token",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = f"kiosk:{found.kiosk_id}"
    if found.kiosk_id != kiosk_id:
        raise HTTPException(403, "a kiosk token reaches only its own kiosk's data")
    return found


def kiosk_principal(request: Request, kiosk_id: KioskIdPath, creds: Credentials, db: DbDep,
                    clock: ClockDep) -> auth.KioskPrincipal:
    """The kiosk of a kiosk token, which must be the kiosk in the path (401 / 403)."""
    token = _token(creds)
    return _kiosk(request, kiosk_id, token, auth.kiosk_for_token(db, token), db, clock)


@dataclass(frozen=True)
class KioskRead:
    """An authenticated kiosk and the read transaction of its request."""

    kiosk: auth.KioskPrincipal
    conn: Connection


def kiosk_read(request: Request, kiosk_id: KioskIdPath, creds: Credentials, db: DbDep,
               clock: ClockDep) -> Iterator[KioskRead]:
    """``kiosk_principal`` and ``read_connection`` in one: the token is looked up on the read
    transaction the route then uses, in the same thread-pool hop (each sync dependency is a
    hop of its own; under 200 kiosks the hops' queue was most of a pull's time)."""
    token = _token(creds)
    with db.read() as conn:
        kiosk = _kiosk(request, kiosk_id, token, auth.kiosk_on(conn, token), db, clock)
        yield KioskRead(kiosk, conn)


def staff_principal(request: Request, creds: Credentials, db: DbDep,
                    clock: ClockDep) -> auth.StaffPrincipal:
    """The staff member of a live staff token (401; a kiosk token is 403)."""
    token = _token(creds)
    principal = auth.staff_for_token(db, token, clock)
    if principal is None:
        if auth.kiosk_for_token(db, token) is not None:
            raise HTTPException(403, "kiosk tokens cannot use staff endpoints")
        raise HTTPException(401, "staff log-in needed", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = f"staff:{principal.staff_no}"
    return principal


def supervisor(staff: Annotated[auth.StaffPrincipal, Depends(staff_principal)]
               ) -> auth.StaffPrincipal:
    """A staff member with the supervisor role (403 otherwise)."""
    if staff.role != "supervisor":
        raise HTTPException(403, "supervisor role needed")
    return staff


KioskDep = Annotated[auth.KioskPrincipal, Depends(kiosk_principal)]
KioskReadDep = Annotated[KioskRead, Depends(kiosk_read, scope="function")]
StaffDep = Annotated[auth.StaffPrincipal, Depends(staff_principal)]
SupervisorDep = Annotated[auth.StaffPrincipal, Depends(supervisor)]


def rate_limit(request: Request, limiter: auth.RateLimiter, bucket: str) -> None:
    """Refuse with 429 and Retry-After when this client used up its attempts in ``bucket``."""
    client = request.client.host if request.client else "-"
    wait = limiter.check(f"{bucket}:{client}")
    if wait:
        raise HTTPException(429, "too many attempts; try again later",
                            headers={"Retry-After": str(wait)})

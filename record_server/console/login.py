"""Log-in, first log-in with a one-time code, log-out and the language switch.

Before a session exists the log-in forms carry a CSRF token that is also in a short-lived
cookie (double submit, ``SameSite=Strict``); after, every form carries the session's token.
The session cookie is HttpOnly, SameSite=Strict and Secure when the request came over HTTPS.
Wrong number, wrong password, a PIN typed as the password, inactive, locked: one answer.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from library_core.errors import ValidationError
from library_core.rules import PinLockout
from record_server import auth, passwords
from record_server.console import audit
from record_server.console.sessions import COOKIE, ConsoleUser, end_session, open_session
from record_server.console.web import (
    LANG_COOKIE,
    LANGUAGES,
    Refused,
    check_csrf,
    clock_of,
    config_of,
    console_staff,
    db_of,
    is_https,
    render,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
NAV = ()
PRE_COOKIE = "console_prelogin"


def safe_next(target: str) -> str:
    """Only a console path (no other host, no scheme)."""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


def _form_page(request: Request, template: str, *, error: str = "", status: int = 200,
               next_url: str = "/console/", staff_no: str = "") -> Response:
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, template, {"pre_csrf": token, "error": error,
                                          "next": safe_next(next_url), "staff_no": staff_no},
                      status=status)
    response.set_cookie(PRE_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=is_https(request), path="/console/")
    return response


def _start(request: Request, who: auth.StaffPrincipal, next_url: str, action: str) -> Response:
    db, clock, config = db_of(request), clock_of(request), config_of(request)
    now = clock.now()
    with db.write() as conn:
        token = open_session(conn, who.staff_no, now, hours=config.console_session_hours)
        audit.record(conn, staff_no=who.staff_no, action=action, now=now,
                     target=who.staff_no)
    response = RedirectResponse(safe_next(next_url), status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                        secure=is_https(request), path="/", max_age=config.console_session_hours * 3600)
    response.delete_cookie(PRE_COOKIE, path="/console/")
    return response


def _pre_check(request: Request, given: str) -> None:
    check_csrf(request.cookies.get(PRE_COOKIE, ""), given)


def _limited(request: Request) -> bool:
    client = request.client.host if request.client else "-"
    limiter: auth.RateLimiter = request.app.state.login_limiter
    return bool(limiter.check(f"console-login:{client}"))


@router.get("/login")
def login_page(request: Request, next: str = "/console/") -> Response:  # noqa: A002
    return _form_page(request, "login.html", next_url=next)


@router.post("/login")
def login(request: Request, staff_no: Annotated[str, Form(max_length=16)],
          password: Annotated[str, Form(max_length=256)],
          csrf_token: Annotated[str, Form(max_length=128)] = "",
          next: Annotated[str, Form(max_length=500)] = "/console/") -> Response:  # noqa: A002
    _pre_check(request, csrf_token)
    if _limited(request):
        return _form_page(request, "login.html", error="console.login.too_many", status=429,
                          next_url=next, staff_no=staff_no)
    config = config_of(request)
    try:
        who = passwords.check_password(db_of(request), staff_no.strip(), password,
                                       clock_of(request),
                                       policy=PinLockout(steps_s=config.lockout_steps_s))
    except auth.LoginRefused as err:
        log.info("console log-in refused: %s (%s)", staff_no, err.reason)
        return _form_page(request, "login.html", error="console.login.refused", status=401,
                          next_url=next, staff_no=staff_no)
    return _start(request, who, next, "session.login")


@router.get("/first-login")
def first_login_page(request: Request) -> Response:
    return _form_page(request, "first_login.html")


@router.post("/first-login")
def first_login(request: Request, staff_no: Annotated[str, Form(max_length=16)],
                code: Annotated[str, Form(max_length=32)],
                password: Annotated[str, Form(max_length=256)],
                confirm: Annotated[str, Form(max_length=256)],
                csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    _pre_check(request, csrf_token)
    if _limited(request):
        return _form_page(request, "first_login.html", error="console.login.too_many",
                          status=429, staff_no=staff_no)
    if password != confirm:
        return _form_page(request, "first_login.html", error="console.password.mismatch",
                          status=422, staff_no=staff_no)
    config = config_of(request)
    try:
        who = passwords.redeem_code(db_of(request), staff_no.strip(), code, password,
                                    clock_of(request),
                                    policy=PinLockout(steps_s=config.lockout_steps_s))
    except ValidationError as err:
        return _form_page(request, "first_login.html", error=err.message_id, status=422,
                          staff_no=staff_no)
    except auth.LoginRefused as err:
        log.info("console first log-in refused: %s (%s)", staff_no, err.reason)
        return _form_page(request, "first_login.html", error="console.first.refused",
                          status=401, staff_no=staff_no)
    return _start(request, who, "/console/", "staff.password_set")


@router.post("/logout")
async def logout(request: Request,
                 user: Annotated[ConsoleUser, Depends(console_staff("auditor"))]) -> Response:
    token = request.cookies.get(COOKIE, "")
    await run_in_threadpool(end_session, db_of(request), token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str = "/console/") -> Response:  # noqa: A002
    """A preference only (a cookie), no change on the server: a GET link on every page."""
    if lang not in LANGUAGES:
        raise Refused(404, "console.error.not_found")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax",
                        secure=is_https(request), path="/")
    return response

"""What every console page uses: the templates, the language, the signed-in member
(``console_staff(min_role)``), the CSRF check of every form, the navigation and ``render``.

Roles, lowest first: ``auditor`` (reads everything, changes nothing), ``desk``, ``supervisor``.
``console_staff("auditor")`` lets every member in, ``console_staff("desk")`` desk and
supervisor, ``console_staff("supervisor")`` supervisors only. A POST route's dependency also
checks the form's ``csrf_token`` (or the ``X-CSRF-Token`` header) against the session's.

A page module (``record_server.console.<page>``) has a ``router`` and a ``NAV`` tuple of
``NavItem``; ``record_server.console.PAGE_MODULES`` lists the modules.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastapi import Request, UploadFile
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from library_core.clock import Clock
from library_core.i18n import translate, translate_plural
from record_server.config import ServerConfig
from record_server.console.sessions import COOKIE, ConsoleUser, session_user
from record_server.db import Database

HERE = Path(__file__).resolve().parent
LANGUAGES = ("zh_CN", "en")
LANG_COOKIE = "console_lang"
ROLE_RANK = {"auditor": 0, "desk": 1, "supervisor": 2}
CSRF_FIELD = "csrf_token"

templates = Jinja2Templates(directory=str(HERE / "templates"))


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation: message id of its label, path, who sees it, order."""

    label: str
    path: str
    min_role: str = "auditor"
    order: int = 50


class LoginNeeded(Exception):
    """No live session: the page answers with the log-in page (303)."""


class Refused(Exception):
    """A member without the role, a form without the right CSRF token, a thing not found:
    an HTML page with the reason (message id) and the status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGUAGES else "zh_CN"


def config_of(request: Request) -> ServerConfig:
    return cast(ServerConfig, request.app.state.config)


def db_of(request: Request) -> Database:
    return cast(Database, request.app.state.db)


def clock_of(request: Request) -> Clock:
    return cast(Clock, request.app.state.clock)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


async def form_or_header_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    if request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached by Starlette: the route's Form fields read it too
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def check_csrf(expected: str, given: str) -> None:
    if not given or not secrets.compare_digest(expected.encode(), given.encode()):
        raise Refused(403, "console.error.csrf")


def console_staff(min_role: str) -> Callable[[Request], Coroutine[Any, Any, ConsoleUser]]:
    """The dependency of a console route: the signed-in member with at least ``min_role``
    (``LoginNeeded`` / ``Refused(403)``); for any method but GET/HEAD the CSRF token too."""
    if min_role not in ROLE_RANK:
        raise ValueError(f"unknown console role {min_role!r}")

    async def dependency(request: Request) -> ConsoleUser:
        token = request.cookies.get(COOKIE, "")
        user: ConsoleUser | None = None
        if token:
            user = await run_in_threadpool(
                session_user, db_of(request), token, clock_of(request).now(),
                idle_seconds=config_of(request).console_idle_seconds)
        if user is None:
            raise LoginNeeded()
        request.state.principal = f"console:{user.staff_no}"
        if request.method not in ("GET", "HEAD"):
            check_csrf(user.csrf_token, await form_or_header_token(request))
        if ROLE_RANK.get(user.role, -1) < ROLE_RANK[min_role]:
            raise Refused(403, "console.error.role")
        request.state.console_user = user
        return user

    return dependency


def nav_for(request: Request, user: ConsoleUser | None) -> list[NavItem]:
    items: list[NavItem] = getattr(request.app.state, "console_nav", [])
    if user is None:
        return []
    rank = ROLE_RANK.get(user.role, -1)
    return [i for i in items if ROLE_RANK[i.min_role] <= rank]


def can(user: ConsoleUser | None, role: str) -> bool:
    return user is not None and ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role]


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           user: ConsoleUser | None = None, status: int = 200) -> HTMLResponse:
    """A page in the request's language: ``t(id, **fields)`` translates (console catalog),
    ``user``, ``csrf`` (the hidden form field's value), ``nav``, ``can(role)``, ``lang``."""
    lang = language(request)
    user = user or getattr(request.state, "console_user", None)

    def t(message_id: str, **params: Any) -> str:
        return translate(message_id, lang, **params)

    def tn(message_id: str, n: int, **params: Any) -> str:  # a count's plural form (ngettext)
        return translate_plural(message_id, n, lang, **params)

    ctx: dict[str, Any] = {
        "t": t, "tn": tn, "lang": lang, "user": user, "csrf": user.csrf_token if user else "",
        "csrf_field": CSRF_FIELD, "nav": nav_for(request, user), "path": request.url.path,
        "query": request.url.query, "can": lambda role: can(user, role),
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return cast(HTMLResponse, response)


async def read_upload(upload: UploadFile, limit: int) -> bytes | None:
    """The uploaded file's bytes, read a megabyte at a time; None once it passes ``limit``
    bytes (the caller refuses it by name, having kept no more than ``limit`` in memory)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(1 << 20):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)

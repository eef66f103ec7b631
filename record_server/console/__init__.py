"""The back-office console at ``/console/``: server-rendered pages (Jinja2) in Chinese and
English on the record server's own process and database (issue 12).

Each page area is a module with a ``router`` (``APIRouter``) and a ``NAV`` tuple of
``web.NavItem``; to add one, add its module's name to ``PAGE_MODULES``. ``placeholders`` comes
last: a real page with the same path replaces its placeholder (route and navigation entry).
"""

from __future__ import annotations

import importlib
import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from record_server.console.web import HERE, LoginNeeded, NavItem, Refused, render

log = logging.getLogger(__name__)

PAGE_MODULES: tuple[str, ...] = (
    "record_server.console.login",
    "record_server.console.home",
    "record_server.console.readers",
    "record_server.console.kiosks",
    "record_server.console.staff",
    "record_server.console.audit_page",
    "record_server.console.pages_reports",  # dashboard, reports (helper C2)
    "record_server.console.pages_finance",
    "record_server.console.pages_visitors",
    "record_server.console.pages_review",
    "record_server.console.fees",  # the fee schedule (helper H)
    "record_server.console.imports",  # readers, items, MARC (helper G)
    "record_server.console.pages_ils",  # ILS exceptions, reader export (helper I)
    "record_server.console.placeholders",  # last: the pages still to come
)


def mount_console(app: FastAPI) -> None:
    """Add the console's routes, navigation, static files and error pages to ``app``."""
    nav: dict[str, NavItem] = {}
    for name in PAGE_MODULES:
        module = importlib.import_module(name)
        app.include_router(module.router)
        for item in getattr(module, "NAV", ()):
            nav.setdefault(item.path, item)
    app.state.console_nav = sorted(nav.values(), key=lambda i: (i.order, i.path))
    app.mount("/console/static", StaticFiles(directory=str(HERE / "static")),
              name="console-static")

    @app.exception_handler(LoginNeeded)
    async def _login(request: Request, _exc: LoginNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/console/"
        return RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        log.info("console refused %s %s: %s", request.method, request.url.path, exc.reason)
        return render(request, "error.html", {"reason": exc.reason}, status=exc.status)

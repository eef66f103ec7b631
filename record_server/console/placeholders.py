"""Pages still to come (issue 12: dashboard, reports, finance, visitors, review queue).

A module that builds one of these defines the same path in its ``router`` and ``NAV`` and is
listed before this one in ``PAGE_MODULES``: its route and navigation entry win.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from record_server.console.sessions import ConsoleUser
from record_server.console.web import NavItem, console_staff, render

router = APIRouter(prefix="/console", include_in_schema=False)
COMING = {
    "dashboard": ("console.nav.dashboard", 10),
    "reports": ("console.nav.reports", 20),
    "finance": ("console.nav.finance", 30),
    "visitors": ("console.nav.visitors", 60),
    "review": ("console.nav.review", 70),
}
NAV = tuple(NavItem(label, f"/console/{name}", "auditor", order)
            for name, (label, order) in COMING.items())


def _page(name: str, label: str) -> None:
    def page(request: Request,
             user: Annotated[ConsoleUser, Depends(console_staff("auditor"))]) -> Response:
        return render(request, "placeholder.html", {"title": label}, user=user)

    router.add_api_route(f"/{name}", page, methods=["GET"], name=f"placeholder-{name}")


for _name, (_label, _order) in COMING.items():
    _page(_name, _label)

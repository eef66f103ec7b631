"""Console page: staff (being built)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from record_server.console.sessions import ConsoleUser
from record_server.console.web import NavItem, console_staff, render

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = (NavItem("console.nav.staff", "/console/staff", "auditor", 90),)


@router.get("/staff")
def page(request: Request,
         user: Annotated[ConsoleUser, Depends(console_staff("auditor"))]) -> Response:
    return render(request, "placeholder.html", {"title": "console.nav.staff"}, user=user)

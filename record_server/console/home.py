"""The console's first page: who is signed in, a reader search box, the areas they may use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from record_server.console.sessions import ConsoleUser
from record_server.console.web import NavItem, console_staff, render

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = (NavItem("console.nav.home", "/console/", "auditor", 0),)


@router.get("")
def bare() -> Response:
    return RedirectResponse("/console/", status_code=308)


@router.get("/")
def home(request: Request,
         user: Annotated[ConsoleUser, Depends(console_staff("auditor"))]) -> Response:
    return render(request, "home.html", user=user)

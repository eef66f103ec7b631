"""Visitors: on site now across every kiosk with a printable A4 evacuation roster, the history
with filters (exported as CSV / XLSX), and the retention purge's recent runs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from record_server.console import exports, visitor_purge, visitors_data
from record_server.console.pages_reports import parse_day
from record_server.console.sessions import ConsoleUser
from record_server.console.web import (
    NavItem,
    Refused,
    clock_of,
    config_of,
    console_staff,
    db_of,
    render,
)

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = (NavItem("console.nav.visitors", "/console/visitors", "auditor", 60),)
Reader = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Short = Annotated[str, Query(max_length=10)]
Field = Annotated[str, Query(max_length=100)]
STATES = ("", "open", "closed", "purged")


def _query(day_from: str, day_to: str, kiosk: str, name: str, department: str,
           state: str) -> visitors_data.VisitQuery:
    if state not in STATES:
        raise Refused(422, "console.error.bad_filter")
    for day in (day_from, day_to):
        parse_day(day, dt.date.min)  # refuses a malformed date; empty means no bound
    return visitors_data.VisitQuery(day_from=day_from, day_to=day_to, kiosk_id=kiosk,
                                    name=name.strip(), department=department.strip(),
                                    state=state)


@router.get("/visitors")
def visitors(request: Request, user: Reader, day_from: Short = "", day_to: Short = "",
             kiosk: Annotated[str, Query(max_length=8)] = "", name: Field = "",
             department: Field = "", state: Short = "") -> Response:
    query = _query(day_from, day_to, kiosk, name, department, state)
    now = clock_of(request).now()
    with db_of(request).read() as conn:
        here = visitors_data.on_site(conn, now=now)
        past = visitors_data.history(conn, query)
        purges = visitor_purge.recent_purges(conn)
        kiosks = visitors_data.kiosk_ids(conn)
    return render(request, "c2/visitors.html", {
        "on_site_rows": here, "past": past, "purges": purges, "kiosks": kiosks, "q": query,
        "retention_days": config_of(request).visitor_retention_days,
        "limit": visitors_data.HISTORY_LIMIT,
        "export_query": (f"day_from={query.day_from}&day_to={query.day_to}&kiosk={query.kiosk_id}"
                         f"&state={query.state}")}, user=user)


@router.get("/visitors/roster")
def roster(request: Request, user: Reader) -> Response:
    """The evacuation roster: everyone on site now, by kiosk, for an A4 print-out."""
    now = clock_of(request).now()
    with db_of(request).read() as conn:
        here = visitors_data.on_site(conn, now=now)
    by_kiosk: dict[str, list[dict[str, object]]] = {}
    for v in here:
        by_kiosk.setdefault(str(v["kiosk_id"]), []).append(v)
    return render(request, "c2/roster.html", {
        "by_kiosk": by_kiosk, "count": len(here),
        "printed_at": now.isoformat(timespec="minutes").replace("T", " ")}, user=user)


@router.get("/visitors/export")
def visitors_export(request: Request, user: Reader, day_from: Short = "", day_to: Short = "",
                    kiosk: Annotated[str, Query(max_length=8)] = "", state: Short = "",
                    fmt: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
    query = _query(day_from, day_to, kiosk, "", "", state)
    with db_of(request).read() as conn:
        rows = visitors_data.history(conn, query, limit=100_000)
    return exports.download(visitors_data.HISTORY_HEADER, visitors_data.history_table(rows),
                            name="visitors", fmt=fmt)

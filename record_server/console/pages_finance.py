"""Finance: the payments ledger (method, receipt, provider transaction id, kiosk, staff), totals
per day and method, each kiosk's end-of-day report against the server's own sums (every
difference highlighted) and the refunds and waivers with who and why."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from record_server import reports
from record_server.console import charts, exports, finance_data
from record_server.console.pages_reports import period_range
from record_server.console.sessions import ConsoleUser
from record_server.console.web import NavItem, clock_of, console_staff, db_of, render

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = (NavItem("console.nav.finance", "/console/finance", "auditor", 30),)
Reader = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Short = Annotated[str, Query(max_length=10)]


def _range(request: Request, period: str, day: str, month: str, start: str,
           end: str) -> tuple[dt.date, dt.date]:
    return period_range(period, day, month, start, end, clock_of(request).now().date())


@router.get("/finance")
def finance(request: Request, user: Reader, period: Annotated[str, Query(max_length=8)] = "day",
            day: Short = "", month: Annotated[str, Query(max_length=7)] = "", start: Short = "",
            end: Short = "", method: Annotated[str, Query(max_length=16)] = "",
            kiosk: Annotated[str, Query(max_length=8)] = "") -> Response:
    first, last = _range(request, period, day, month, start, end)
    now = clock_of(request).now()
    with db_of(request).read() as conn:
        report = reports.range_report(conn, first, last, now)
        ledger = finance_data.ledger(conn, start=first, end=last, method=method, kiosk_id=kiosk)
        checks = finance_data.day_checks(conn, start=first, end=last, now=now)
        adjustments = finance_data.refunds_and_waivers(conn, start=first, end=last)
    days = finance_data.totals_by_day(report)
    return render(request, "c2/finance.html", {
        "report": report, "ledger": ledger, "checks": checks, "adjustments": adjustments,
        "days": days, "methods": finance_data.methods_of(report), "yuan": charts.yuan,
        "period": period, "day": day or first.isoformat(), "month": month or first.isoformat()[:7],
        "start": first.isoformat(), "end": last.isoformat(), "method": method, "kiosk": kiosk,
        "limit": finance_data.LEDGER_LIMIT,
        "chart": charts.columns([(d["day"][5:], d["total"]) for d in days], title="payments",
                                fmt=charts.yuan),
        "query_range": f"start={first}&end={last}&method={method}&kiosk={kiosk}"}, user=user)


@router.get("/finance/export")
def finance_export(request: Request, user: Reader, start: Short = "", end: Short = "",
                   method: Annotated[str, Query(max_length=16)] = "",
                   kiosk: Annotated[str, Query(max_length=8)] = "",
                   fmt: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
    """The ledger of the range as CSV or XLSX."""
    first, last = _range(request, "range", "", "", start, end)
    with db_of(request).read() as conn:
        rows = finance_data.ledger(conn, start=first, end=last, method=method, kiosk_id=kiosk,
                                   limit=100_000)
    return exports.download(finance_data.LEDGER_HEADER, finance_data.ledger_table(rows),
                            name=f"ledger-{first}-{last}", fmt=fmt)

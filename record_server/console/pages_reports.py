"""The dashboard (today across branches and kiosks, kiosk health and alerts) and the reports
(a day, a month or a range, by branch and kiosk, with charts; every table as CSV and XLSX).

The figures come from ``record_server.reports.range_report``, the implementation behind the JSON
API (``/api/v1/reports/daily`` and ``/api/v1/reports/range``), so the console, its exports and
the API always agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from record_server import reports
from record_server.console import charts, dashboard_data, exports
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
NAV = (NavItem("console.nav.dashboard", "/console/dashboard", "auditor", 10),
       NavItem("console.nav.reports", "/console/reports", "auditor", 20))
Reader = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
MAX_DAYS = 366
Text = Annotated[str, Query(max_length=10)]


def parse_day(value: str, default: dt.date) -> dt.date:
    """A form's date (YYYY-MM-DD), or ``default`` when empty. Raises Refused(422)."""
    if not value:
        return default
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise Refused(422, "console.error.bad_date") from None
    if not 2000 <= day.year <= 2200:
        raise Refused(422, "console.error.bad_date")
    return day


def period_range(period: str, day: str, month: str, start: str, end: str,
                 today: dt.date) -> tuple[dt.date, dt.date]:
    """(first, last) day of the period asked for. Raises Refused(422)."""
    if period == "day":
        d = parse_day(day, today)
        return d, d
    if period == "month":
        try:
            first = dt.date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
        except ValueError:
            raise Refused(422, "console.error.bad_date") from None
        after = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return first, after - dt.timedelta(days=1)
    if period == "range":
        first, last = parse_day(start, today), parse_day(end, today)
        if last < first or (last - first).days >= MAX_DAYS:
            raise Refused(422, "console.error.bad_range")
        return first, last
    raise Refused(422, "console.error.bad_period")


@router.get("/dashboard")
def dashboard(request: Request, user: Reader) -> Response:
    now = clock_of(request).now()
    with db_of(request).read() as conn:
        data = dashboard_data.dashboard(conn, now=now,
                                        silent_minutes=config_of(request).kiosk_silent_minutes)
    totals = data["report"]["totals"]
    by_branch = data["report"]["by_branch"]
    chart = charts.bars([(k, v["payments_total"]) for k, v in data["report"]["by_kiosk"].items()],
                        title="payments", fmt=charts.yuan)
    return render(request, "c2/dashboard.html", {
        "data": data, "totals": totals, "by_branch": by_branch, "yuan": charts.yuan,
        "chart": chart, "today": now.date().isoformat(),
        "silent_minutes": config_of(request).kiosk_silent_minutes}, user=user)


def _report(request: Request, period: str, day: str, month: str, start: str,
            end: str) -> dict[str, Any]:
    now = clock_of(request).now()
    first, last = period_range(period, day, month, start, end, now.date())
    with db_of(request).read() as conn:
        return reports.range_report(conn, first, last, now)


@router.get("/reports")
def report_page(request: Request, user: Reader,
                period: Annotated[str, Query(max_length=8)] = "day", day: Text = "",
                month: Annotated[str, Query(max_length=7)] = "", start: Text = "",
                end: Text = "", scope: Annotated[str, Query(max_length=40)] = "total",
                ) -> Response:
    report = _report(request, period, day, month, start, end)
    figures = _scope(report, scope)
    days = exports.day_range(dt.date.fromisoformat(report["from"]),
                             dt.date.fromisoformat(report["to"]))
    blank = {"cards_issued": 0, "cards_renewed": 0, "cards_replaced": 0, "payments_total": 0}
    per_day = [(d.isoformat()[5:], report["by_day"].get(d.isoformat(), blank)) for d in days]
    t_days = [(d, v["cards_issued"] + v["cards_renewed"] + v["cards_replaced"])
              for d, v in per_day]
    money_days = [(d, v["payments_total"]) for d, v in per_day]
    return render(request, "c2/reports.html", {
        "report": report, "figures": figures, "scope": scope, "period": period,
        "day": day or report["from"], "month": month or report["from"][:7],
        "start": report["from"], "end": report["to"], "yuan": charts.yuan,
        "metrics": reports.METRICS,
        "chart_cards": charts.columns(t_days, title="cards"),
        "chart_money": charts.columns(money_days, title="payments", fmt=charts.yuan),
        "chart_kiosks": charts.bars([(k, v["payments_total"])
                                     for k, v in report["by_kiosk"].items()],
                                    title="kiosks", fmt=charts.yuan),
        "query_range": f"from={report['from']}&to={report['to']}"}, user=user)


def _scope(report: dict[str, Any], scope: str) -> dict[str, Any]:
    if scope == "total":
        return dict(report["totals"])
    kind, _, key = scope.partition(":")
    table = {"kiosk": report["by_kiosk"], "branch": report["by_branch"]}.get(kind, {})
    if key not in table:
        raise Refused(404, "console.error.bad_scope")
    return dict(table[key])


@router.get("/reports/export")
def report_export(request: Request, user: Reader,
                  start: Annotated[dt.date, Query(alias="from")],
                  end: Annotated[dt.date, Query(alias="to")],
                  fmt: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
    """The whole report of the range (every scope) as CSV or XLSX: the rows of
    ``reports.range_table``, the same as ``/api/v1/reports/range?format=csv``."""
    report = _report(request, "range", "", "", start.isoformat(), end.isoformat())
    return exports.report_download(report, fmt)

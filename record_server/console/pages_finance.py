"""Finance: the payments ledger (method, receipt, provider transaction id, kiosk, staff), totals
per day and method, each kiosk's end-of-day report against the server's own sums (every
difference highlighted) and the refunds and waivers with who and why.

``/console/finance/reconcile``: a provider's daily bill file set against our books
(``bill_import``). Importing one is a supervisor's action (it stores a run and an audit row;
auditors are read-only, issue 12.1); every member sees the runs and their mismatches."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from record_server import reports
from record_server.console import bill_import, charts, exports, finance_data
from record_server.console.pages_reports import period_range
from record_server.console.sessions import ConsoleUser
from record_server.console.web import (
    NavItem,
    Refused,
    clock_of,
    console_staff,
    db_of,
    read_upload,
    render,
)

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = (NavItem("console.nav.finance", "/console/finance", "auditor", 30),)
Reader = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Supervisor = Annotated[ConsoleUser, Depends(console_staff("supervisor"))]
RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
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


# -- bill files against our books (issue 13.3) ------------------------------------------------


def _reconcile_page(request: Request, user: ConsoleUser, *, error: str = "", detail: str = "",
                    status: int = 200) -> Response:
    with db_of(request).read() as conn:
        rows = bill_import.recent(conn)
    return render(request, "c2/reconcile.html", {"runs": rows, "error": error,
                                                 "detail": detail, "yuan": charts.yuan},
                  user=user, status=status)


@router.get("/finance/reconcile")
def reconcile_page(request: Request, user: Reader) -> Response:
    return _reconcile_page(request, user)


async def _read_bill(upload: UploadFile) -> bytes:
    data = await read_upload(upload, bill_import.MAX_BILL)
    if data is None:
        raise bill_import.BillRefused("too_big", f"{bill_import.MAX_BILL // (1 << 20)} MB")
    return data


# over the app's 1 MB bodies: a bill up to MAX_BILL is read and a bigger one (up to 4x, beyond
# that the server's bare 413 before reading) refused by name as too_big
@router.post("/finance/reconcile", max_body_size=4 * bill_import.MAX_BILL)
async def reconcile_upload(request: Request, user: Supervisor, file: UploadFile,
                           provider: Annotated[str, Form(pattern=r"^(auto|wechat|alipay)$")]
                           = "auto", day: Annotated[str, Form(max_length=10)] = "") -> Response:
    """Reconcile the bill and keep the run (303 to its page); a refused file: the form again
    with the reason (422), nothing stored."""
    try:
        data = await _read_bill(file)
        run_id = await run_in_threadpool(
            bill_import.import_bill, db_of(request), provider=provider,
            file_name=file.filename or "", data=data, day=day.strip(),
            staff_no=user.staff_no, now=clock_of(request).now())
    except bill_import.BillRefused as err:
        return await run_in_threadpool(_reconcile_page, request, user, error=err.reason,
                                       detail=err.detail, status=422)
    return RedirectResponse(f"/console/finance/reconcile/{run_id}", status_code=303)


@router.get("/finance/reconcile/{run_id}")
def reconcile_run(request: Request, run_id: RunId, user: Reader) -> Response:
    with db_of(request).read() as conn:
        row = bill_import.run(conn, run_id)
    if row is None:
        raise Refused(404, "console.error.not_found")
    return render(request, "c2/reconcile_run.html", {"run": row, "yuan": charts.yuan}, user=user)

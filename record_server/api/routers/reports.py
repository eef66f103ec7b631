"""Reports for staff: the daily report (JSON or CSV) and the all-time summary."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse

from record_server import reports
from record_server.api.deps import ERRORS, ClockDep, ReadConn, StaffDep
from record_server.crud import summary as data
from record_server.responses import DailyReport, RangeReport, Summary

router = APIRouter(prefix="/api/v1", tags=["staff"])


@router.get("/reports/daily", response_model=DailyReport, responses=ERRORS | {
    200: {"content": {"application/json": {}, "text/csv": {}}}})
def daily_report(staff: StaffDep, clock: ClockDep, conn: ReadConn,
                 date: Annotated[dt.date | None, Query()] = None,
                 format: Annotated[Literal["json", "csv"], Query()] = "json",
                 ) -> dict[str, Any] | PlainTextResponse:
    now = clock.now()
    day = date or now.date()
    if not 2000 <= day.year <= 2200:
        raise HTTPException(422, "date out of range")
    report = reports.daily_report(conn, day, now)
    if format == "csv":
        return PlainTextResponse(reports.report_csv(report), media_type="text/csv",
                                 headers={"Content-Disposition":
                                          f'attachment; filename="daily-{day}.csv"'})
    return report


MAX_RANGE_DAYS = 366


@router.get("/reports/range", response_model=RangeReport, responses=ERRORS | {
    200: {"content": {"application/json": {}, "text/csv": {}}}})
def range_report(staff: StaffDep, clock: ClockDep, conn: ReadConn,
                 start: Annotated[dt.date, Query(alias="from")],
                 end: Annotated[dt.date, Query(alias="to")],
                 format: Annotated[Literal["json", "csv"], Query()] = "json",
                 ) -> dict[str, Any] | PlainTextResponse:
    """The days ``from``..``to`` (both included, at most a year): totals, per kiosk, branch
    and day. The console's reports and exports show exactly these figures."""
    if not (2000 <= start.year <= 2200 and 2000 <= end.year <= 2200):
        raise HTTPException(422, "date out of range")
    if end < start or (end - start).days >= MAX_RANGE_DAYS:
        raise HTTPException(422, f"to must be on or after from, at most {MAX_RANGE_DAYS} days")
    report = reports.range_report(conn, start, end, clock.now())
    if format == "csv":
        return PlainTextResponse(reports.range_csv(report), media_type="text/csv",
                                 headers={"Content-Disposition":
                                          f'attachment; filename="report-{start}-{end}.csv"'})
    return report


@router.get("/summary", response_model=Summary, responses=ERRORS)
def summary(staff: StaffDep, conn: ReadConn) -> dict[str, Any]:
    """Counts and money totals (fen) over everything held: for audits and drills."""
    return data.summary(conn)

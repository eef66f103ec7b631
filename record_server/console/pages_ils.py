"""The console's ILS page (issue 15): the ILS exception report (transactions kiosks queued while
the ILS was down and it refused when forwarded; anyone may look, a supervisor resolves one,
recorded and audited) and the export of new readers for the ILS (supervisor only, audited:
it carries personal data; ``record_server.ils.export``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from record_server.console import audit, review_data
from record_server.console.sessions import ConsoleUser
from record_server.console.web import NavItem, Refused, clock_of, console_staff, db_of, render
from record_server.ils import exceptions, export

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = (NavItem("console.nav.ils", "/console/ils", "auditor", 72),)
Reader = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Supervisor = Annotated[ConsoleUser, Depends(console_staff("supervisor"))]
MEDIA = {"folio-json": "application/json", "koha-csv": "text/csv; charset=utf-8",
         "generic-csv": "text/csv; charset=utf-8"}


@router.get("/ils")
def ils_page(request: Request, user: Reader,
             show: Annotated[str, Query(max_length=4)] = "open",
             done: Annotated[str, Query(max_length=4)] = "") -> Response:
    if show not in ("open", "all"):
        raise Refused(422, "console.error.bad_filter")
    with db_of(request).read() as conn:
        items = exceptions.listing(conn, open_only=show == "open")
        count = exceptions.open_count(conn)
    today = clock_of(request).now().date()
    return render(request, "ils/ils.html", {
        "items": items, "open_count": count, "show": show, "decisions": review_data.DECISIONS,
        "formats": export.FORMATS, "since": (today - dt.timedelta(days=7)).isoformat(),
        "id_numbers": export.id_numbers_allowed(),
        "notice": "console.review.resolved" if done else None}, user=user)


@router.post("/ils/exceptions/{event_id}/resolve")
async def resolve(request: Request, user: Supervisor, event_id: str,
                  decision: Annotated[str, Form(max_length=16)],
                  note: Annotated[str, Form(max_length=300)] = "") -> Response:
    if len(event_id) > 36:
        raise Refused(404, "console.review.not_found")
    try:
        await run_in_threadpool(exceptions.resolve, db_of(request), event_id,
                                decision=decision, note=note, staff_no=user.staff_no,
                                now=clock_of(request).now())
    except review_data.ReviewRefused as err:
        raise Refused(err.status, err.reason) from None
    return RedirectResponse("/console/ils?done=1", status_code=303)


@router.post("/ils/export-readers")
async def export_readers(request: Request, user: Supervisor,
                         since: Annotated[str, Form(max_length=10)],
                         fmt: Annotated[str, Form(alias="format", max_length=16)]) -> Response:
    if fmt not in export.FORMATS:
        raise Refused(422, "console.ils.export.bad_format")
    try:
        day = dt.date.fromisoformat(since)
    except ValueError:
        raise Refused(422, "console.ils.export.bad_date") from None
    body, rows = await run_in_threadpool(
        export_file, request, day, fmt, user.staff_no)
    return Response(body, media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="{export.filename(fmt, day)}"',
        "X-Rows": str(rows)})


def export_file(request: Request, day: dt.date, fmt: str, staff_no: str) -> tuple[bytes, int]:
    """The file and its row count; the export is audited in the same transaction."""
    with_ids = export.id_numbers_allowed()
    with db_of(request).write() as conn:
        readers = export.new_readers(conn, since=day)
        audit.record(conn, staff_no=staff_no, action="readers.export_ils",
                     now=clock_of(request).now(), target=fmt,
                     after={"format": fmt, "since": day.isoformat(), "rows": len(readers),
                            "id_numbers": with_ids})
    return export.render(readers, fmt, with_id_numbers=with_ids), len(readers)

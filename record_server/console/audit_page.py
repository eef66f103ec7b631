"""Console page for the audit log (issue 12 point 11): search by staff, reader, kiosk, action
and date, newest first, a page of 100 at a time. Read-only for every role."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from record_server.console import audit
from record_server.console.sessions import ConsoleUser
from record_server.console.web import NavItem, console_staff, db_of, render

router = APIRouter(prefix="/console/audit", include_in_schema=False)
NAV = (NavItem("console.nav.audit", "/console/audit", "auditor", 100),)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Text = Annotated[str, Query(max_length=64)]


def _day(value: str) -> str:
    return value if _DAY.match(value) else ""


@router.get("")
def audit_page(request: Request,
               user: Annotated[ConsoleUser, Depends(console_staff("auditor"))],
               staff_no: Text = "", reader_id: Text = "", kiosk_id: Text = "",
               action: Text = "", day_from: Text = "", day_to: Text = "",
               before_id: Annotated[int | None, Query(ge=1)] = None) -> Response:
    query = audit.AuditQuery(staff_no=staff_no.strip(), reader_id=reader_id.strip(),
                             kiosk_id=kiosk_id.strip(), action=action.strip(),
                             day_from=_day(day_from), day_to=_day(day_to), before_id=before_id)
    with db_of(request).read() as conn:
        rows = audit.search(conn, query, limit=audit.PAGE + 1)
        actions = audit.actions(conn)
    more = len(rows) > audit.PAGE
    rows = rows[:audit.PAGE]
    next_query = ""
    if more:
        params = {k: v for k, v in query.__dict__.items() if v and k != "before_id"}
        next_query = urlencode({**params, "before_id": rows[-1]["id"]})
    return render(request, "audit/list.html",
                  {"q": query, "rows": rows, "actions": actions, "more": more,
                   "next_query": next_query}, user=user)

"""Console page for staff (issue 12 point 8): the list, and a supervisor's actions: create a
member (desk and supervisor get a random first PIN for the kiosks; everyone a one-time code
for the web password), change the role, issue a new password code, reset the PIN, unlock,
deactivate and reactivate. A new PIN or code is shown once, on the answer. Audited, never with
a PIN, code or hash in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from library_core.errors import ValidationError
from record_server import passwords
from record_server.console import audit
from record_server.console import staff_data as data
from record_server.console.sessions import ConsoleUser
from record_server.console.web import NavItem, Refused, clock_of, console_staff, db_of, render

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console/staff", include_in_schema=False)
NAV = (NavItem("console.nav.staff", "/console/staff", "auditor", 90),)

StaffNo = Annotated[str, Path(pattern=r"^S\d{4}$")]
Viewer = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Supervisor = Annotated[ConsoleUser, Depends(console_staff("supervisor"))]
NOTICES = {"unlock": "console.staff.done_unlock", "deactivate": "console.staff.done_deactivate",
           "activate": "console.staff.done_activate", "role": "console.staff.done_role"}
Shown = dict[str, Any]


def row_actions(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, label, button class) of the buttons a member's row offers."""
    if not s["active"]:
        return [("activate", "console.staff.activate", "")]
    out = [("issue-code", "console.staff.issue_code", "")]
    if s["role"] in data.KIOSK_ROLES:
        out.append(("reset-pin", "console.staff.reset_pin", ""))
    if s["locked"] or s["password_locked_until"] or s["failed_attempts"] or s["password_failures"]:
        out.append(("unlock", "console.staff.unlock", ""))
    out.append(("deactivate", "console.staff.deactivate", "danger"))
    return out


def _page(request: Request, user: ConsoleUser, *, shown: Shown | None = None,
          error: str = "", status: int = 200) -> Response:
    with db_of(request).read() as conn:
        rows = data.members(conn)
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return render(request, "staff/list.html",
                  {"rows": rows, "shown": shown, "error": error, "notice": notice,
                   "actions": row_actions}, user=user, status=status)


@router.get("")
def staff_page(request: Request, user: Viewer) -> Response:
    return _page(request, user)


def _change(request: Request, user: ConsoleUser, staff_no: str, action: str,
            work: Callable[[Connection], Shown | None], *, done: str = "") -> Response:
    """Run ``work`` (returning what to show once, or None) with its audit row."""
    now = clock_of(request).now()
    try:
        with db_of(request).write() as conn:
            before = data.state(conn, staff_no)
            if before is None:
                raise Refused(404, "console.error.not_found")
            shown = work(conn)
            audit.record(conn, staff_no=user.staff_no, action=action, now=now,
                         target=staff_no, before=before, after=data.state(conn, staff_no))
    except ValidationError as err:
        return _page(request, user, error=err.message_id, status=409)
    log.info("console %s on staff %s by %s", action, staff_no, user.staff_no)
    if shown is not None:
        return _page(request, user, shown=shown)
    return RedirectResponse(f"/console/staff?done={done}", status_code=303)


@router.post("")
def create(request: Request, user: Supervisor,
           staff_no: Annotated[str, Form(pattern=r"^S\d{4}$")],
           name: Annotated[str, Form(min_length=1, max_length=100)],
           role: Annotated[str, Form(pattern=r"^(desk|supervisor|auditor)$")]) -> Response:
    now = clock_of(request).now()
    try:
        with db_of(request).write() as conn:
            pin = data.create_member(conn, staff_no=staff_no, name=name.strip(), role=role)
            code = passwords.issue_code(conn, staff_no, now)
            audit.record(conn, staff_no=user.staff_no, action="staff.create", now=now,
                         target=staff_no, after=data.state(conn, staff_no))
    except ValidationError as err:
        return _page(request, user, error=err.message_id, status=409)
    items = [("console.staff.first_pin", pin)] if pin else []
    items.append(("console.field.code", code or ""))
    return _page(request, user, shown={"staff_no": staff_no, "items": items})


@router.post("/{staff_no}/issue-code")
def issue_code(request: Request, staff_no: StaffNo, user: Supervisor) -> Response:
    now = clock_of(request).now()

    def work(conn: Connection) -> Shown:
        code = passwords.issue_code(conn, staff_no, now)
        return {"staff_no": staff_no, "items": [("console.field.code", code or "")]}

    return _change(request, user, staff_no, "staff.issue_code", work)


@router.post("/{staff_no}/reset-pin")
def reset_pin(request: Request, staff_no: StaffNo, user: Supervisor) -> Response:
    def work(conn: Connection) -> Shown:
        pin = data.reset_pin(conn, staff_no)
        return {"staff_no": staff_no, "items": [("console.staff.new_pin", pin)]}

    return _change(request, user, staff_no, "staff.reset_pin", work)


@router.post("/{staff_no}/unlock")
def unlock(request: Request, staff_no: StaffNo, user: Supervisor) -> Response:
    return _change(request, user, staff_no, "staff.unlock",
                   lambda conn: data.unlock(conn, staff_no), done="unlock")


def _not_self(user: ConsoleUser, staff_no: str) -> None:
    if user.staff_no == staff_no:
        raise ValidationError("console.staff.not_self", "not on your own account")


@router.post("/{staff_no}/deactivate")
def deactivate(request: Request, staff_no: StaffNo, user: Supervisor) -> Response:
    def work(conn: Connection) -> None:
        _not_self(user, staff_no)
        data.set_active(conn, staff_no, False)

    return _change(request, user, staff_no, "staff.deactivate", work, done="deactivate")


@router.post("/{staff_no}/activate")
def activate(request: Request, staff_no: StaffNo, user: Supervisor) -> Response:
    return _change(request, user, staff_no, "staff.activate",
                   lambda conn: data.set_active(conn, staff_no, True), done="activate")


@router.post("/{staff_no}/role")
def set_role(request: Request, staff_no: StaffNo, user: Supervisor,
             role: Annotated[str, Form(pattern=r"^(desk|supervisor)$")]) -> Response:
    def work(conn: Connection) -> None:
        _not_self(user, staff_no)
        data.set_role(conn, staff_no, role)

    return _change(request, user, staff_no, "staff.role", work, done="role")

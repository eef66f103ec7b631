"""Console pages for readers (issue 12 point 5): search by card number, name or ID number; a
reader's file (cards, fees, payments, loans, history); the desk's actions (report a card lost,
unlock the reader's PIN, correct the phone) and the supervisor's (waive a fee with a reason,
cancel the cards and refund the deposit, reveal the full ID number and phone). Every action
and every reveal is audited in the transaction that makes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from library_core.errors import ValidationError
from library_core.identity import mask_resident_id, normalize_resident_id
from library_core.money import format_fen
from record_server.console import audit
from record_server.console import readers_data as data
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

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console/readers", include_in_schema=False)
NAV = (NavItem("console.nav.readers", "/console/readers", "auditor", 40),)

ReaderId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
FeeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
CardNo = Annotated[str, Path(pattern=r"^2\d{13}$")]
Viewer = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Desk = Annotated[ConsoleUser, Depends(console_staff("desk"))]
Supervisor = Annotated[ConsoleUser, Depends(console_staff("supervisor"))]
Reason = Annotated[str, Form(min_length=1, max_length=300)]
NOTICES = {"lost": "console.readers.done_lost", "unlock": "console.readers.done_unlock",
           "phone": "console.readers.done_phone", "waive": "console.readers.done_waive",
           "refund": "console.readers.done_refund"}


def _search_page(request: Request, user: ConsoleUser, q: str) -> Response:
    q = q[:40]
    with db_of(request).read() as conn:
        matched, rows = data.search(conn, q, library_key=config_of(request).library_key)
    shown = mask_resident_id(normalize_resident_id(q)) if matched == "id_number" else q
    return render(request, "readers/search.html",
                  {"q": shown, "matched": matched, "rows": rows, "searched": bool(q.strip())},
                  user=user)


@router.get("")
def search_page(request: Request, user: Viewer, q: str = "") -> Response:
    return _search_page(request, user, q)


@router.post("")
def search_posted(request: Request, user: Viewer,
                  q: Annotated[str, Form(max_length=80)] = "") -> Response:
    """The search form's own way in: a typed ID number stays out of every URL (history, proxy
    logs) and the page repeats it masked only."""
    return _search_page(request, user, q)


def _reader_page(request: Request, user: ConsoleUser, reader_id: str, *,
                 error: str = "", revealed: dict[str, str] | None = None,
                 status: int = 200) -> Response:
    with db_of(request).read() as conn:
        file = data.reader_file(conn, reader_id)
    if file is None:
        raise Refused(404, "console.error.not_found")
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return render(request, "readers/reader.html",
                  {"r": file, "error": error, "revealed": revealed, "fen": format_fen,
                   "notice": notice}, user=user, status=status)


@router.get("/{reader_id}")
def reader_page(request: Request, reader_id: ReaderId, user: Viewer) -> Response:
    return _reader_page(request, user, reader_id)


def _act(request: Request, user: ConsoleUser, reader_id: str, action: str, done: str,
         work: Callable[[Connection], tuple[dict[str, Any], dict[str, Any]]], *,
         target: str = "", reason: str = "") -> Response:
    """Run ``work`` and its audit row in one transaction; back to the reader's page."""
    now = clock_of(request).now()
    try:
        with db_of(request).write() as conn:
            before, after = work(conn)
            audit.record(conn, staff_no=user.staff_no, action=action, now=now,
                         target=target or reader_id, reader_id=reader_id, before=before,
                         after=after, reason=reason)
    except ValidationError as err:
        return _reader_page(request, user, reader_id, error=err.message_id, status=409)
    log.info("console %s on reader %s (%s) by %s", action, reader_id, target, user.staff_no)
    return RedirectResponse(f"/console/readers/{reader_id}?done={done}", status_code=303)


@router.post("/{reader_id}/cards/{card_no}/lost")
def report_lost(request: Request, reader_id: ReaderId, card_no: CardNo, user: Desk,
                note: Annotated[str, Form(max_length=300)] = "") -> Response:
    now = clock_of(request).now()
    return _act(request, user, reader_id, "card.report_lost", "lost",
                lambda conn: data.report_lost(conn, reader_id=reader_id, card_no=card_no,
                                              note=note, staff_no=user.staff_no, now=now),
                target=card_no, reason=note)


@router.post("/{reader_id}/pin/unlock")
def unlock_pin(request: Request, reader_id: ReaderId, user: Desk) -> Response:
    return _act(request, user, reader_id, "reader.pin_unlock", "unlock",
                lambda conn: data.unlock_pin(conn, reader_id))


@router.post("/{reader_id}/phone")
def correct_phone(request: Request, reader_id: ReaderId, user: Desk,
                  phone: Annotated[str, Form(max_length=20)]) -> Response:
    return _act(request, user, reader_id, "reader.phone", "phone",
                lambda conn: data.correct_phone(conn, reader_id, phone))


@router.post("/{reader_id}/fees/{fee_id}/waive")
def waive_fee(request: Request, reader_id: ReaderId, fee_id: FeeId, user: Supervisor,
              reason: Reason) -> Response:
    return _act(request, user, reader_id, "fee.waive", "waive",
                lambda conn: data.waive_fee(conn, reader_id, fee_id), target=fee_id,
                reason=reason)


@router.post("/{reader_id}/cancel")
def cancel_and_refund(request: Request, reader_id: ReaderId, user: Supervisor,
                      reason: Reason) -> Response:
    now = clock_of(request).now()
    return _act(request, user, reader_id, "reader.cancel_refund", "refund",
                lambda conn: data.cancel_and_refund(conn, reader_id=reader_id,
                                                    staff_no=user.staff_no, reason=reason,
                                                    now=now), reason=reason)


@router.post("/{reader_id}/reveal")
def reveal(request: Request, reader_id: ReaderId, user: Supervisor, reason: Reason) -> Response:
    """The full ID number and phone, on this one answer only; audited with the reason."""
    now = clock_of(request).now()
    with db_of(request).write() as conn:
        shown = data.full_identity(conn, reader_id)
        if shown is None:
            raise Refused(404, "console.error.not_found")
        audit.record(conn, staff_no=user.staff_no, action="reader.reveal", now=now,
                     target=reader_id, reader_id=reader_id, reason=reason,
                     after={"fields": ["id_number", "phone"]})
    log.info("console reveal of reader %s by %s", reader_id, user.staff_no)
    response = _reader_page(request, user, reader_id, revealed=shown)
    return response

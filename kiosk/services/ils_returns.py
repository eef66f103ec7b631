"""A return checked in at the ILS (``ReturnService`` with a ``CirculationDesk``): the ILS's
answer (title, alert, sort bin, hold, screen messages, print lines) is the result; while the
ILS is unreachable the offline policy queues it (durably, with the audit entry in one
transaction) or sends the reader to the desk. Fines are the ILS's: it assesses them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kiosk.services.circulation import QUEUE_CHECKIN, CirculationDesk
from kiosk.services.common import StaffSession
from kiosk.services.returns import ReturnOutcome, ReturnResult
from library_core.clock import Clock
from library_core.errors import SyncError

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories

log = logging.getLogger(__name__)

MAX_ITEM_ID = 64  # longer than any item barcode an ILS issues: refused before sending


def ils_check_in(desk: CirculationDesk, repos: Repositories, clock: Clock, barcode: str, *,
                 staff: StaffSession | None = None) -> ReturnResult:
    """Check ``barcode`` in at the ILS. Raises StoreError only (the ILS's refusals and its
    absence are results)."""
    actor = staff.staff_no if staff else "self-service"
    if not barcode or len(barcode) > MAX_ITEM_ID or not barcode.isprintable() or "|" in barcode:
        return ReturnResult(barcode[:MAX_ITEM_ID], ReturnOutcome.UNKNOWN_ITEM)
    now = clock.now()
    try:
        answer = desk.ils.check_in(barcode)
    except SyncError as err:
        log.warning("check-in of %s not answered by the ILS: %s", barcode, err)
        with repos.transaction() as uow:
            if not desk.may_queue(QUEUE_CHECKIN):
                uow.audit.append(at=now, actor=actor, action="ils.checkin_refused_offline",
                                 subject=barcode, detail={"policy": str(desk.policy)})
                return ReturnResult(barcode, ReturnOutcome.ILS_UNREACHABLE)
            payload: dict[str, object] = {"item": barcode}
            if getattr(err, "maybe_delivered", False):
                # the 09 went out and its answer came too late: the ILS may have checked it in
                payload["maybe_checked_in"] = True
            queue_id = desk.queue.add(QUEUE_CHECKIN, payload, at=now)
            uow.audit.append(at=now, actor=actor, action="ils.checkin_queued", subject=barcode,
                             detail={"queue_id": queue_id})
        return ReturnResult(barcode, ReturnOutcome.QUEUED)
    with repos.transaction() as uow:
        uow.audit.append(at=now, actor=actor, action="ils.checkin", subject=barcode,
                         detail={"ok": answer.ok, "alert": answer.alert,
                                 "sort_bin": answer.sort_bin, "hold": answer.hold})
    if not answer.ok:
        outcome = ReturnOutcome.NOT_ON_LOAN if answer.title else ReturnOutcome.UNKNOWN_ITEM
        return ReturnResult(barcode, outcome, answer.title, messages=answer.screen_messages)
    return ReturnResult(barcode, ReturnOutcome.RETURNED, answer.title, hold=answer.hold,
                        sort_bin=answer.sort_bin, messages=answer.screen_messages,
                        print_lines=answer.print_lines)

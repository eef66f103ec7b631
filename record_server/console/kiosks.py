"""Console page for kiosks (issue 12 point 8): the list (name, branch, number, last sync,
state), enrolling a kiosk (the one-time code as text and as a QR code, made by
``auth.enroll_kiosk``), revoking one, and renaming or moving it to another branch.
Supervisors change; everyone else reads. Each change is audited.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import Connection, select, update

from record_server import auth
from record_server import models as m
from record_server.console import audit
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
router = APIRouter(prefix="/console/kiosks", include_in_schema=False)
NAV = (NavItem("console.nav.kiosks", "/console/kiosks", "auditor", 80),)

KioskId = Annotated[str, Path(pattern=r"^K\d{2,4}$")]
KioskIdForm = Annotated[str, Form(pattern=r"^K\d{2,4}$", max_length=8)]
Branch = Annotated[str, Form(min_length=1, max_length=32, pattern=r"^[\w .-]+$")]
Name = Annotated[str, Form(max_length=64)]
Viewer = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Supervisor = Annotated[ConsoleUser, Depends(console_staff("supervisor"))]
NOTICES = {"revoked": "console.kiosks.done_revoked", "saved": "console.kiosks.done_saved"}


def kiosk_rows(conn: Connection) -> list[dict[str, Any]]:
    k = m.kiosks.c
    rows = conn.execute(select(k.kiosk_id, k.kiosk_no, k.name, k.branch, k.created_at,
                               k.last_push_at, k.revoked_at, k.enroll_expires_at,
                               k.token_hash.is_not(None).label("enrolled"))
                        .order_by(k.kiosk_id)).all()
    return [dict(r._mapping) for r in rows]


def _state(row: dict[str, Any]) -> str:
    if row["revoked_at"]:
        return "revoked"
    if row["enrolled"]:
        return "enrolled"
    return "pending"


def qr_svg(text: str) -> Markup:
    """The code as an SVG QR code (drawn by ``qrcode``, inline in the page)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    return Markup(image.to_string(encoding="unicode"))  # noqa: S704 - qrcode's own SVG


def _page(request: Request, user: ConsoleUser, *, enrolled: dict[str, Any] | None = None,
          error: str = "", status: int = 200) -> Response:
    with db_of(request).read() as conn:
        rows = kiosk_rows(conn)
    for row in rows:
        row["state"] = _state(row)
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return render(request, "kiosks/list.html",
                  {"rows": rows, "enrolled": enrolled, "error": error, "notice": notice},
                  user=user, status=status)


@router.get("")
def kiosks_page(request: Request, user: Viewer) -> Response:
    return _page(request, user)


@router.post("/enroll")
def enroll(request: Request, user: Supervisor, kiosk_id: KioskIdForm, branch: Branch,
           name: Name = "") -> Response:
    """A new kiosk, or a new code for one (re-enrollment: the old token stays until the code
    is used). The code is shown once, here; only its hash is kept."""
    db, clock, config = db_of(request), clock_of(request), config_of(request)
    now = clock.now()
    try:
        with db.write() as conn:  # the code, the name and the audit row: one transaction
            before = conn.execute(select(m.kiosks.c.branch, m.kiosks.c.name, m.kiosks.c.kiosk_no)
                                  .where(m.kiosks.c.kiosk_id == kiosk_id)).first()
            code = auth.enroll_kiosk_on(conn, kiosk_id, now, branch=branch.strip(),
                                        hours=config.enroll_code_hours)
            conn.execute(update(m.kiosks).where(m.kiosks.c.kiosk_id == kiosk_id)
                         .values(name=name.strip() or None))
            row = conn.execute(select(m.kiosks.c.kiosk_no, m.kiosks.c.enroll_expires_at)
                               .where(m.kiosks.c.kiosk_id == kiosk_id)).one()
            audit.record(conn, staff_no=user.staff_no, action="kiosk.enroll", now=now,
                         target=kiosk_id, kiosk_id=kiosk_id,
                         before=dict(before._mapping) if before else {},
                         after={"branch": branch.strip(), "name": name.strip(),
                                "kiosk_no": row.kiosk_no,
                                "code_expires_at": row.enroll_expires_at})
    except auth.KioskNumbersExhausted:
        return _page(request, user, error="console.kiosks.numbers_exhausted", status=409)
    log.info("console: kiosk %s enrollment code issued by %s", kiosk_id, user.staff_no)
    return _page(request, user, enrolled={"kiosk_id": kiosk_id, "code": code,
                                          "qr": qr_svg(code), "kiosk_no": row.kiosk_no,
                                          "expires_at": row.enroll_expires_at})


@router.post("/{kiosk_id}/revoke")
def revoke(request: Request, kiosk_id: KioskId, user: Supervisor,
           reason: Annotated[str, Form(min_length=1, max_length=300)]) -> Response:
    db, now = db_of(request), clock_of(request).now()
    with db.write() as conn:  # the revocation and its audit row: one transaction
        when = auth.revoke_kiosk_on(conn, kiosk_id, now)
        if when is None:
            raise Refused(404, "console.error.not_found")
        audit.record(conn, staff_no=user.staff_no, action="kiosk.revoke", now=now,
                     target=kiosk_id, kiosk_id=kiosk_id, after={"revoked_at": when},
                     reason=reason)
    log.info("console: kiosk %s revoked by %s", kiosk_id, user.staff_no)
    return RedirectResponse("/console/kiosks?done=revoked", status_code=303)


@router.post("/{kiosk_id}/edit")
def edit(request: Request, kiosk_id: KioskId, user: Supervisor, branch: Branch,
         name: Name = "") -> Response:
    db, clock = db_of(request), clock_of(request)
    with db.write() as conn:
        before = conn.execute(select(m.kiosks.c.branch, m.kiosks.c.name)
                              .where(m.kiosks.c.kiosk_id == kiosk_id)).first()
        if before is None:
            raise Refused(404, "console.error.not_found")
        after = {"branch": branch.strip(), "name": name.strip() or None}
        conn.execute(update(m.kiosks).where(m.kiosks.c.kiosk_id == kiosk_id).values(**after))
        audit.record(conn, staff_no=user.staff_no, action="kiosk.edit", now=clock.now(),
                     target=kiosk_id, kiosk_id=kiosk_id, before=dict(before._mapping),
                     after=after)
    return RedirectResponse("/console/kiosks?done=saved", status_code=303)

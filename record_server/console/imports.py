"""Console page for imports (issue 12 point 9): readers or items from CSV/XLSX, the catalogue
from MARC (ISO 2709 or MARCXML; MARC 21 or CNMARC; the barcode's field configurable).
Supervisors only. An upload starts the dry run in a background job; its page polls
``/progress`` and then lists every row-level error, or offers the commit (one transaction,
audited with who, the file's name and the counts). The work is ``record_server.imports``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from record_server.console.sessions import ConsoleUser
from record_server.console.web import (
    NavItem,
    Refused,
    clock_of,
    config_of,
    console_staff,
    db_of,
    read_upload,
    render,
)
from record_server.imports import jobs
from record_server.imports.marc import FLAVOURS, MarcProfile, field_spec
from record_server.imports.rows import FileRefused

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console/imports", include_in_schema=False)
NAV = (NavItem("console.nav.imports", "/console/imports", "supervisor", 85),)
Supervisor = Annotated[ConsoleUser, Depends(console_staff("supervisor"))]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
MAX_UPLOAD = 256 * 1024 * 1024  # 1,000,000 items as CSV are about 70 MB
# the app-wide request body limit (max_body_bytes, 1 MB) answered any bigger import with a bare
# 413: this route takes bodies up to MAX_UPLOAD and a little more, so a file just over it is
# refused by name (too_big, the page's message); a far bigger body gets the bare 413 unread
UPLOAD_BODY_LIMIT = MAX_UPLOAD + (16 << 20)
FieldSpec = Annotated[str, Form(max_length=8)]


def _page(request: Request, user: ConsoleUser, *, error: str = "", detail: str = "",
          status: int = 200) -> Response:
    with db_of(request).read() as conn:
        rows = jobs.recent(conn)
    return render(request, "imports/list.html",
                  {"rows": rows, "error": error, "detail": detail, "flavours": FLAVOURS},
                  user=user, status=status)


@router.get("")
def imports_page(request: Request, user: Supervisor) -> Response:
    return _page(request, user)


async def _read_upload(upload: UploadFile) -> bytes:
    data = await read_upload(upload, MAX_UPLOAD)
    if data is None:
        raise FileRefused("too_big", f"{MAX_UPLOAD // (1 << 20)} MB")
    return data


@router.post("", max_body_size=UPLOAD_BODY_LIMIT)
async def upload(request: Request, user: Supervisor, file: UploadFile,
                 kind: Annotated[str, Form(pattern=r"^(readers|items|marc)$")],
                 flavour: Annotated[str, Form(pattern=r"^(auto|marc21|cnmarc)$")] = "auto",
                 barcode_field: FieldSpec = "", call_no_field: FieldSpec = "") -> Response:
    """Keep the file and start its dry run; the job's page follows it."""
    name = (file.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200]
    try:
        for spec in (barcode_field, call_no_field):
            if spec.strip():
                field_spec(spec)
        data = await _read_upload(file)
        if not data.strip():
            raise FileRefused("empty")
    except FileRefused as err:
        return await run_in_threadpool(_page, request, user, error=err.reason,
                                       detail=err.detail, status=422)
    profile = MarcProfile(flavour, barcode_field.strip() or None, call_no_field.strip() or None)
    f = jobs.ImportFile(kind, name, data, profile)
    db, clock, data_dir = db_of(request), clock_of(request), config_of(request).data_dir
    job_id = await run_in_threadpool(jobs.create_job, db, f, staff_no=user.staff_no,
                                     now=clock.now(), data_dir=data_dir)
    jobs.start(jobs.run_check, db, job_id, clock=clock, data_dir=data_dir)
    return RedirectResponse(f"/console/imports/{job_id}", status_code=303)


def _job(request: Request, job_id: str) -> dict[str, Any]:
    with db_of(request).read() as conn:
        row = jobs.job(conn, job_id)
    if row is None:
        raise Refused(404, "console.error.not_found")
    return row


@router.get("/{job_id}")
def job_page(request: Request, job_id: JobId, user: Supervisor) -> Response:
    row = _job(request, job_id)
    reason, _, detail = str(row["reason"]).partition("|")
    return render(request, "imports/job.html",
                  {"job": row, "reason": reason, "detail": detail,
                   "running": row["status"] not in jobs.FINAL}, user=user)


@router.get("/{job_id}/progress")
def job_progress(request: Request, job_id: JobId, _user: Supervisor) -> Response:
    state = jobs.progress_of(db_of(request), job_id)
    if state is None:
        raise Refused(404, "console.error.not_found")
    state["final"] = state["status"] in jobs.FINAL
    return JSONResponse(state, headers={"Cache-Control": "no-store"})


@router.post("/{job_id}/commit")
def job_commit(request: Request, job_id: JobId, user: Supervisor) -> Response:
    """Write the checked rows (once: a job not checked clean, or already committed, is 409)."""
    _job(request, job_id)
    db = db_of(request)
    if not jobs.mark_writing(db, job_id):
        raise Refused(409, "console.imports.not_committable")
    config = config_of(request)
    jobs.start(jobs.run_commit, db, job_id, clock=clock_of(request), data_dir=config.data_dir,
               schedule=config.fee_schedule)
    return RedirectResponse(f"/console/imports/{job_id}", status_code=303)

"""Kiosks: enrollment, event pushes and change pulls (kiosk tokens), revocation (supervisor)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from library_core.clock import CHINA_TZ
from library_core.contract import ChangesPage
from record_server import apply, auth, changes, kiosk_status
from record_server import models as m
from record_server import schemas as s
from record_server.api.deps import (
    ERRORS,
    NOT_FOUND,
    ClockDep,
    ConfigDep,
    DbDep,
    KioskDep,
    KioskIdPath,
    KioskReadDep,
    LimiterDep,
    PushPauseDep,
    SupervisorDep,
    rate_limit,
)
from record_server.console import audit
from record_server.ingest import numbering, staff_proof

log = logging.getLogger("record_server.app")
router = APIRouter(prefix="/api/v1/kiosks")


@router.post("/enroll", tags=["kiosk"], response_model=s.TokenResponse, responses=ERRORS)
def enroll(body: s.EnrollRequest, request: Request, db: DbDep, clock: ClockDep,
           limiter: LimiterDep) -> s.TokenResponse:
    rate_limit(request, limiter, "enroll")
    token = auth.exchange_code(db, body.kiosk_id, body.code, clock)
    if token is None:
        raise HTTPException(401, "unknown kiosk or wrong, used or expired enrollment code")
    log.info("kiosk %s enrolled", body.kiosk_id)
    return s.TokenResponse(token=token, kiosk_no=auth.kiosk_no(db, body.kiosk_id))


@router.get("/{kiosk_id}/position", tags=["kiosk"], response_model=s.KioskPosition,
            responses=ERRORS)
def position(kiosk_id: KioskIdPath, read: KioskReadDep, clock: ClockDep) -> s.KioskPosition:
    """What this kiosk has used, as the server knows it: a kiosk whose store was wiped or
    restored from an older copy moves its counters and outbox forward from here."""
    since = (clock.now().astimezone(CHINA_TZ).date() - dt.timedelta(days=7)).isoformat()
    row = read.conn.execute(select(m.kiosks.c.kiosk_no, m.kiosks.c.next_seq)
                            .where(m.kiosks.c.kiosk_id == read.kiosk.kiosk_id)).one()
    used = numbering.position(read.conn, read.kiosk.kiosk_id, receipts_since=since)
    return s.KioskPosition(kiosk_id=read.kiosk.kiosk_id, kiosk_no=int(row.kiosk_no),
                           next_seq=int(row.next_seq), **used)


class ReceiptBlockRequest(BaseModel):
    day: dt.date  # the kiosk's day of the receipts (its numbers restart every day)
    after: Annotated[int, Field(ge=0, le=numbering.RECEIPT_MAX, strict=True)]  # its counter


class ReceiptBlock(BaseModel):
    day: dt.date
    ceiling: int  # the kiosk may print numbers up to this one


@router.post("/{kiosk_id}/receipt-blocks", tags=["kiosk"], response_model=ReceiptBlock,
             responses=ERRORS)
def reserve_receipt_block(kiosk_id: KioskIdPath, body: ReceiptBlockRequest, kiosk: KioskDep,
                          db: DbDep, clock: ClockDep) -> ReceiptBlock:
    """Reserve this kiosk's next block of receipt numbers of ``day`` (the last 7 days up to
    tomorrow, the days ``position`` answers): a wiped kiosk resumes above the ceiling, so no
    number it printed is ever issued twice (docs/security.md 4.7)."""
    today = clock.now().astimezone(CHINA_TZ).date()
    if not today - dt.timedelta(days=7) <= body.day <= today + dt.timedelta(days=1):
        raise HTTPException(422, "day_not_reservable")
    with db.write() as conn:
        ceiling = numbering.reserve_receipts(conn, kiosk.kiosk_id, body.day.isoformat(),
                                             body.after)
    return ReceiptBlock(day=body.day, ceiling=ceiling)


@router.post("/{kiosk_id}/events", tags=["kiosk"], response_model=s.PushResponse,
             responses={**ERRORS, 503: {"model": s.Problem}})
def push_events(kiosk_id: KioskIdPath, body: s.PushRequest, kiosk: KioskDep, db: DbDep,
                config: ConfigDep, clock: ClockDep, pause: PushPauseDep) -> s.PushResponse:
    if len(body.events) > config.max_batch:
        raise HTTPException(422, f"at most {config.max_batch} events per push")
    for env in body.events:
        if env.kiosk_id != kiosk.kiosk_id:
            raise HTTPException(403, "events must belong to the pushing kiosk")
    if body.quarantined:  # pulled rows the kiosk set aside (library_core.contract)
        with db.write() as conn:
            changes.record_quarantined(conn, kiosk_id=kiosk.kiosk_id, rows=body.quarantined,
                                       at=clock.now().isoformat())
    if body.device_status is not None:  # one upsert per push, whatever the batch holds
        with db.write() as conn:
            kiosk_status.record(conn, kiosk_id=kiosk.kiosk_id, status=body.device_status,
                                received_at=clock.now().isoformat())
    try:
        with staff_proof.proof_policy(staff_proof.ProofPolicy(config.require_staff_proof,
                                                              config.offline_staff)):
            results, next_seq = apply.push(db, kiosk_id=kiosk.kiosk_id,
                                           envelopes=body.events, schedule=config.fee_schedule,
                                           clock=clock, pause=pause)
    except apply.KioskGone:
        raise HTTPException(401, "unknown or revoked kiosk token") from None
    except apply.Busy as busy:
        raise HTTPException(503, "busy with concurrent batches; retry",
                            headers={"Retry-After": str(busy.retry_after)}) from None
    return s.PushResponse(results=[s.EventResult(**r) for r in results], next_seq=next_seq)


@router.get("/{kiosk_id}/changes", tags=["kiosk"], response_model=ChangesPage,
            responses=ERRORS)
def pull_changes(kiosk_id: KioskIdPath, read: KioskReadDep, config: ConfigDep,
                 cursor: Annotated[int, Query(ge=0, le=s.MAX_SEQ)] = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> Response:
    # a ChangesPage written from each change's cached JSON (changes.page_json): every kiosk
    # pulls the same changes, and checking and writing each page anew was most of a pull
    return Response(changes.page_json(read.conn, cursor, min(limit, config.max_page),
                                      library_key=config.library_key),
                    media_type="application/json")


@router.post("/{kiosk_id}/revoke", tags=["staff"], response_model=s.RevokeResponse,
             responses=ERRORS | NOT_FOUND)
def revoke(kiosk_id: KioskIdPath, staff: SupervisorDep, db: DbDep,
           clock: ClockDep) -> s.RevokeResponse:
    now = clock.now()
    with db.write() as conn:  # the revocation and its audit row: one transaction
        when = auth.revoke_kiosk_on(conn, kiosk_id, now)
        if when is None:
            raise HTTPException(404, "no such kiosk")
        audit.record(conn, staff_no=staff.staff_no, action="kiosk.revoke", now=now,
                     target=kiosk_id, kiosk_id=kiosk_id, after={"revoked_at": when},
                     reason="api")
    log.info("kiosk %s revoked by %s", kiosk_id, staff.staff_no)
    return s.RevokeResponse(kiosk_id=kiosk_id, revoked_at=when)

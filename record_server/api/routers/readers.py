"""Readers for kiosks: the server checks a reader's PIN (kiosks hold no PIN hash)."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import Field, StringConstraints

from library_core.contract import Strict
from library_core.contract.types import Pin
from record_server.api.deps import (
    ERRORS,
    NOT_FOUND,
    ClockDep,
    DbDep,
    KioskDep,
    KioskIdPath,
    LimiterDep,
    rate_limit,
)
from record_server.crud import readers as data
from record_server.crud.errors import NotFound

log = logging.getLogger("record_server.app")
router = APIRouter(prefix="/api/v1/kiosks", tags=["kiosk"])


ReaderId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                            pattern=r"^[A-Za-z0-9_.:-]+$")]


class ReaderPinCheck(Strict):
    """A reader at a kiosk proving who they are: the reader id the kiosk found by the keyed
    hash of the ID number, the ID number as typed or read, the PIN."""

    reader_id: ReaderId
    id_number: str = Field(min_length=18, max_length=18, pattern=r"^\d{17}[\dX]$")
    pin: Pin


class ReaderPinAnswer(Strict):
    result: Literal["ok", "wrong", "locked"]
    attempts_left: int = 0  # wrong: wrong PINs left before the lock
    minutes: int = 0  # locked: minutes until it ends
    grant: str = ""  # ok: names this reader's lost-card block and replacement from this kiosk


@router.post("/{kiosk_id}/reader-pin", response_model=ReaderPinAnswer,
             responses=ERRORS | NOT_FOUND)
def check_reader_pin(kiosk_id: KioskIdPath, body: ReaderPinCheck, request: Request,
                     kiosk: KioskDep, db: DbDep, clock: ClockDep,
                     limiter: LimiterDep) -> ReaderPinAnswer:
    """ok / wrong (with attempts left) / locked (minutes left); 404 for no such active reader
    with that ID number (nothing counted); 429 past the rate limit."""
    rate_limit(request, limiter, f"reader-pin:{kiosk.kiosk_id}")
    try:
        answer = data.check_reader_pin(db, kiosk_id=kiosk.kiosk_id, reader_id=body.reader_id,
                                       id_number=body.id_number, pin=body.pin, now=clock.now())
    except NotFound as err:
        raise HTTPException(404, err.detail) from None
    return ReaderPinAnswer(result=answer.result, attempts_left=answer.attempts_left,
                           minutes=answer.minutes, grant=answer.grant)

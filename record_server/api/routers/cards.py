"""Cards at the desk: look one up, block one."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from record_server import schemas as s
from record_server.api.deps import (
    ERRORS,
    NOT_FOUND,
    CardNoPath,
    ClockDep,
    ReadConn,
    StaffDep,
    WriteConn,
)
from record_server.crud import cards as data

log = logging.getLogger("record_server.app")
router = APIRouter(prefix="/api/v1/cards", tags=["staff"])


@router.get("/{card_no}", response_model=s.CardPublic, responses=ERRORS | NOT_FOUND)
def get_card(card_no: CardNoPath, staff: StaffDep, conn: ReadConn) -> dict[str, Any]:
    return data.get_card(conn, card_no=card_no)


@router.post("/{card_no}/block", response_model=s.CardPublic, responses=ERRORS | NOT_FOUND)
def block_card(card_no: CardNoPath, body: s.BlockCardRequest, staff: StaffDep, clock: ClockDep,
               conn: WriteConn) -> dict[str, Any]:
    card = data.block_card(conn, card_no=card_no, reason=body.reason, note=body.note,
                           staff_no=staff.staff_no, now=clock.now().isoformat())
    log.info("card %s blocked (%s) at the desk by %s", card_no, body.reason, staff.staff_no)
    return card

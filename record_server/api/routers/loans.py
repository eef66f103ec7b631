"""Items and loans from the desk: put an item in the catalogue, lend it, renew a loan."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from record_server import schemas as s
from record_server.api.deps import (
    CONFLICT,
    ERRORS,
    NOT_FOUND,
    BarcodePath,
    ClockDep,
    LoanIdPath,
    StaffDep,
    WriteConn,
)
from record_server.crud import items, loans
from record_server.responses import ItemPublic, LoanCreated, LoanRenewed

router = APIRouter(prefix="/api/v1", tags=["staff"])


@router.put("/items/{barcode}", response_model=ItemPublic, responses=ERRORS)
def put_item(barcode: BarcodePath, body: s.ItemUpsert, staff: StaffDep,
             conn: WriteConn) -> dict[str, Any]:
    if body.barcode != barcode:
        raise HTTPException(422, "barcode in the path and the body differ")
    return items.upsert_item(conn, barcode=barcode, title=body.title, author=body.author,
                             call_no=body.call_no, hold=body.hold)


@router.post("/loans", status_code=201, response_model=LoanCreated,
             responses=ERRORS | NOT_FOUND | CONFLICT)
def create_loan(body: s.LoanCreate, staff: StaffDep, clock: ClockDep,
                conn: WriteConn) -> dict[str, Any]:
    borrowed = (body.borrowed_at or clock.now()).isoformat()
    return loans.create_loan(conn, loan_id=body.loan_id, item_barcode=body.item_barcode,
                             reader_id=body.reader_id, borrowed_at=borrowed,
                             due_on=body.due_on.isoformat())


@router.post("/loans/{loan_id}/renew", response_model=LoanRenewed,
             responses=ERRORS | NOT_FOUND | CONFLICT)
def renew_loan(loan_id: LoanIdPath, body: s.LoanRenew, staff: StaffDep, clock: ClockDep,
               conn: WriteConn) -> dict[str, Any]:
    return loans.renew_loan(conn, loan_id=loan_id, due_on=body.due_on.isoformat(),
                            staff_no=staff.staff_no, now=clock.now().isoformat())

"""Loans made and renewed at the desk."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select, update

from record_server import changes
from record_server import models as m
from record_server.crud.errors import NotFound, Refused


def create_loan(conn: Connection, *, loan_id: str, item_barcode: str, reader_id: str,
                borrowed_at: str, due_on: str) -> dict[str, Any]:
    """Lend an available item to a reader (a merged reader's loan goes to the one kept).

    Raises NotFound (item or reader), Refused (item not available, loan id already used).
    """
    item = conn.execute(select(m.items).where(m.items.c.barcode == item_barcode)).first()
    reader = conn.execute(select(m.readers.c.reader_id, m.readers.c.merged_into)
                          .where(m.readers.c.reader_id == reader_id)).first()
    if item is None or reader is None:
        raise NotFound("no such item or reader")
    if item.status != "available":
        raise Refused("item is not available")
    if conn.execute(select(m.loans.c.loan_id).where(m.loans.c.loan_id == loan_id)).first():
        raise Refused("loan id already used")
    kept = str(reader.merged_into or reader.reader_id)
    conn.execute(m.loans.insert().values(
        loan_id=loan_id, item_barcode=item_barcode, reader_id=kept,
        borrowed_at=borrowed_at, due_on=due_on, renewals=0))
    conn.execute(update(m.items).where(m.items.c.barcode == item_barcode)
                 .values(status="on_loan"))
    changes.publish(conn, {"loan": {loan_id}, "item": {item_barcode}})
    return {"loan_id": loan_id, "item_barcode": item_barcode, "reader_id": kept,
            "borrowed_at": borrowed_at, "due_on": due_on}


def renew_loan(conn: Connection, *, loan_id: str, due_on: str, staff_no: str,
               now: str) -> dict[str, Any]:
    """Move an open loan's due date later, log the desk action, publish the change.

    Raises NotFound, Refused (already returned, due date not later).
    """
    loan = conn.execute(select(m.loans).where(m.loans.c.loan_id == loan_id)).first()
    if loan is None:
        raise NotFound("no such loan")
    if loan.returned_at is not None:
        raise Refused("loan already returned")
    if due_on <= loan.due_on:
        raise Refused("a renewal must move the due date later")
    conn.execute(update(m.loans).where(m.loans.c.loan_id == loan_id).values(
        due_on=due_on, renewals=m.loans.c.renewals + 1))
    conn.execute(m.desk_actions.insert().values(
        staff_no=staff_no, action="loan.renew", target=loan_id,
        detail=json.dumps({"due_on": due_on}), at=now))
    changes.publish(conn, {"loan": {loan_id}})
    return {"loan_id": loan_id, "due_on": due_on}

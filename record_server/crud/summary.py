"""Counts and money totals (fen) over everything held: for audits and drills."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from record_server import models as m


def event_counts(conn: Connection) -> dict[str, int]:
    """Stored events per status (applied, conflict, rejected)."""
    rows = conn.execute(select(m.events.c.status, func.count()).group_by(m.events.c.status))
    return {r[0]: int(r[1]) for r in rows}


def summary(conn: Connection) -> dict[str, Any]:
    """Row counts per table, payments per kind, fee and credit totals, events per status."""
    def count(table: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    pay = conn.execute(select(m.payments.c.kind, func.count(), func.coalesce(
        func.sum(m.payments.c.amount), 0)).group_by(m.payments.c.kind)).all()
    fee_sum = conn.execute(select(func.coalesce(func.sum(m.fees.c.amount), 0),
                                  func.coalesce(func.sum(m.fees.c.paid), 0))).one()
    credit = conn.execute(select(func.coalesce(func.sum(m.readers.c.credit), 0))).scalar_one()
    return {
        "readers": count(m.readers), "cards": count(m.cards), "fees": count(m.fees),
        "loans": count(m.loans), "visits": count(m.visits),
        "conflicts": count(m.conflicts),
        "payments": {r[0]: {"count": int(r[1]), "amount": int(r[2])} for r in pay},
        "fees_amount": int(fee_sum[0]), "fees_paid": int(fee_sum[1]),
        "credit": int(credit), "events": event_counts(conn),
    }

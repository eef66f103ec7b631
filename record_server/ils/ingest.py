"""``ils.refused``: keep a transaction the ILS refused after a kiosk's store-and-forward, for the
console's ILS exception report.

What the server re-checks (the contract has checked kinds, lengths and clean text): it was
queued before it was refused (``ils_refused_time``); a fee paid carries its amount and our
transaction id of the pushing kiosk (its receipt numbers start with its id), nothing else
carries an amount (``ils_refused_other_kiosk``, ``ils_refused_amount``); one queue entry is
reported once (``ils_refused_exists``).
"""

from __future__ import annotations

import datetime as dt

from library_core.contract.ils import IlsRefused
from record_server.ils.tables import ils_exceptions
from record_server.ingest.context import Context, Reject
from record_server.ingest.statements import by_key, insert_into


def ils_refused(ctx: Context, p: IlsRefused) -> None:
    queued = dt.datetime.fromisoformat(p.queued_at)
    if queued.tzinfo is None or queued > ctx.occurred_at:
        raise Reject("ils_refused_time")
    if p.queue_kind == "fee_paid":
        if p.amount is None:
            raise Reject("ils_refused_amount")
        if not p.key.startswith(f"{ctx.kiosk_id}-"):
            raise Reject("ils_refused_other_kiosk")
    elif p.amount is not None:
        raise Reject("ils_refused_amount")
    ref = f"{ctx.kiosk_id}:{p.queue_kind}:{p.key}:{queued.isoformat()}"
    if by_key(ctx.conn, ils_exceptions, ils_exceptions.c.ref, ref) is not None:
        raise Reject("ils_refused_exists")
    insert_into(ctx.conn, ils_exceptions, dict(
        event_id=ctx.event_id, ref=ref, kiosk_id=ctx.kiosk_id, queue_kind=p.queue_kind,
        key=p.key, answer=p.answer, amount=p.amount, queued_at=queued.isoformat(),
        refused_at=ctx.occurred_at.isoformat(), received_at=ctx.now))

"""``receipt.issued``: keep a kiosk's receipt (masked, as printed) under its token's hash.

What the server re-checks (the contract has checked types, lengths, masking): the receipt is
the pushing kiosk's (its id in the receipt and the number's prefix), its time is the event's and
its number's day is that time's local day, the number and the token hash are new, and when the
server already holds the payment recorded with this receipt number, the total and the method
are that payment's (the page checks again when the payment comes later).
"""

from __future__ import annotations

import datetime as dt
import json

from library_core.clock import CHINA_TZ
from library_core.contract.receipt_doc import ReceiptIssued
from record_server import models as m
from record_server.ingest.context import Context, Reject
from record_server.ingest.statements import by_key, insert_into
from record_server.office_tables import ereceipts


def receipt_issued(ctx: Context, p: ReceiptIssued) -> None:
    doc = p.document
    if doc.kiosk_id != ctx.kiosk_id or not p.receipt_no.startswith(f"{ctx.kiosk_id}-"):
        raise Reject("receipt_other_kiosk")
    issued = dt.datetime.fromisoformat(doc.issued_at)
    if issued.tzinfo is None or issued != ctx.occurred_at:
        raise Reject("receipt_time_not_event")
    if p.receipt_no.split("-")[1] != issued.astimezone(CHINA_TZ).strftime("%Y%m%d"):
        raise Reject("receipt_no_day_mismatch")
    if by_key(ctx.conn, ereceipts, ereceipts.c.receipt_no, p.receipt_no) is not None:
        raise Reject("receipt_exists")
    if by_key(ctx.conn, ereceipts, ereceipts.c.token_hash, p.token_sha256) is not None:
        raise Reject("receipt_token_taken")
    payment = by_key(ctx.conn, m.payments, m.payments.c.receipt_no, p.receipt_no)
    if payment is not None and (doc.total != payment.amount
                                or doc.payment_method != payment.method):
        raise Reject("receipt_not_payment")
    insert_into(ctx.conn, ereceipts, dict(
        receipt_no=p.receipt_no, token_hash=p.token_sha256, kiosk_id=ctx.kiosk_id,
        kind=doc.kind, issued_at=issued.isoformat(), total=doc.total,
        payment_method=doc.payment_method, event_id=ctx.event_id,
        body=json.dumps(doc.model_dump(), ensure_ascii=False, sort_keys=True)))

"""Outbox events: what a kiosk tells the record server. The sync contract in words; its types
(one pydantic model per event kind and per pulled entity, the contract version) are in
``library_core.contract``, which both the kiosk's outbox and the server validate with.

Every kiosk transaction writes one or more events into its outbox in the same SQLite
transaction as its records. An event envelope (as pushed, JSON)::

    {"event_id": "<uuid4 made on the kiosk>", "kiosk_id": "K01", "seq": 17,
     "kind": "card.issued", "occurred_at": "2026-11-24T10:15:00+08:00",
     "priority": 0, "contract_version": 1, "payload": {...}}

``seq`` rises by one per kiosk with no gaps; the server applies events of one kiosk in ``seq``
order, exactly once (``event_id`` is the idempotency key). Events with ``priority`` 1 (card
blocks) are pushed before all others. Money is integer fen. Dates are ISO strings.

Payloads by kind (keys; all required unless marked optional):

- ``reader.registered``: reader_id, name, id_number, phone, category, pin_hash, registered_at, guardian_phone (under 14)
- ``card.issued``: card_no, reader_id, uid (hex), generation, expires_on
- ``card.renewed``: card_no, reader_id, previous_expires_on, expires_on, months
- ``card.blocked`` (priority 1): card_no, reader_id, reason ("lost" | "cancelled"), staff_no (opt), reader_grant (lost with no staff)
- ``card.replaced``: old_card_no, card_no, reader_id, uid, generation, expires_on, reader_grant
- ``card.cancelled``: card_no, reader_id, staff_no, deposit_refunded
- ``fee.assessed``: fee_id, reader_id, kind, amount, description, loan_id (opt), item_barcode (opt)
- ``fee.waived``: fee_id, reader_id, staff_no, reason
- ``payment.recorded``: payment_id, reader_id (opt), receipt_no, method, amount,
  allocations: [{fee_id, amount}], staff_no (opt)
- ``deposit.refunded``: payment_id, reader_id, receipt_no, amount, staff_no
- ``payment.unapplied``: payment_id, reader_id (opt), receipt_no, method, amount, transaction_id,
  out_trade_no, purpose — money a provider took for an action that never happened (the kiosk
  died before its commit), booked by the payment recovery (``library_core.contract.unapplied``)
- ``payment.refunded``: payment_id, refund_of, receipt_no, method, amount, transaction_id,
  out_trade_no, out_refund_no — the provider's refund of an unapplied payment
- ``loan.returned``: loan_id, item_barcode, reader_id, returned_at, fine_fee_id (opt), hold (bool)
- ``visit.opened``: visit_id, name, phone, id_number (opt), purpose, host_department, expires_at
- ``visit.closed``: visit_id, closed_at, how ("scanned" | "auto" | "staff")
- ``day.closed``: report (the end-of-day report dict), staff_no
- ``receipt.issued``: receipt_no, token_sha256 (of the e-receipt token), document (the receipt
  as printed, masked data only; ``library_core.contract.receipt_doc``)
- ``ils.refused``: queue_kind, key, answer, queued_at, amount (fee_paid) — a queued SIP2
  transaction the ILS refused when forwarded (``library_core.contract.ils``)
- ``ils.fee_paid``: payment_id, receipt_no, patron, reader_id (opt), method, amount, staff_no
  (opt), transaction_id (opt), out_trade_no (opt) — fines of the library's ILS paid at the
  kiosk, booked by the record server as a payment to the ILS (``library_core.contract.ils``)
"""

from __future__ import annotations

from typing import Final

READER_REGISTERED: Final = "reader.registered"
CARD_ISSUED: Final = "card.issued"
CARD_RENEWED: Final = "card.renewed"
CARD_BLOCKED: Final = "card.blocked"
CARD_REPLACED: Final = "card.replaced"
CARD_CANCELLED: Final = "card.cancelled"
FEE_ASSESSED: Final = "fee.assessed"
FEE_WAIVED: Final = "fee.waived"
PAYMENT_RECORDED: Final = "payment.recorded"
DEPOSIT_REFUNDED: Final = "deposit.refunded"
LOAN_RETURNED: Final = "loan.returned"
VISIT_OPENED: Final = "visit.opened"
VISIT_CLOSED: Final = "visit.closed"
DAY_CLOSED: Final = "day.closed"
RECEIPT_ISSUED: Final = "receipt.issued"
ILS_REFUSED: Final = "ils.refused"
PAYMENT_UNAPPLIED: Final = "payment.unapplied"
PAYMENT_REFUNDED: Final = "payment.refunded"
ILS_FEE_PAID: Final = "ils.fee_paid"

ALL_KINDS: Final = frozenset({
    READER_REGISTERED, CARD_ISSUED, CARD_RENEWED, CARD_BLOCKED, CARD_REPLACED, CARD_CANCELLED,
    FEE_ASSESSED, FEE_WAIVED, PAYMENT_RECORDED, DEPOSIT_REFUNDED, LOAN_RETURNED,
    VISIT_OPENED, VISIT_CLOSED, DAY_CLOSED, RECEIPT_ISSUED, ILS_REFUSED,
    PAYMENT_UNAPPLIED, PAYMENT_REFUNDED, ILS_FEE_PAID,
})

PRIORITY_KINDS: Final = frozenset({CARD_BLOCKED})


def priority_of(kind: str) -> int:
    return 1 if kind in PRIORITY_KINDS else 0


# Pulled changes (server -> kiosk), one dict per change, in server sequence order:
#   {"seq": 123, "entity": "<entity>", "id": "<primary key>", "data": {...}}
# Entity shapes (the same keys the kiosk's local store keeps):
#   reader: reader_id, name, id_hash (HMAC of the ID number), id_masked, phone_masked, category,
#           status ("active"|"cancelled"),
#           credit (fen), registered_at
#   card:   card_no, reader_id, uid (hex), generation, status ("active"|"lost"|"replaced"|
#           "cancelled"), issued_at, expires_on
#   item:   barcode, title, author, call_no, status ("available"|"on_loan"|"lost"), hold (bool)
#   loan:   loan_id, item_barcode, reader_id, borrowed_at, due_on, returned_at (or None)
#   fee:    fee_id, reader_id, kind, amount, paid (fen), status ("open"|"paid"|"waived"),
#           description, created_at, loan_id (or None), item_barcode (or None)
#   staff:  staff_no, name, role ("desk"|"supervisor"), pin_hash, card_no (or None), active (bool)
#   fee_schedule: id "current", data = FeeSchedule.to_dict() (the server's configured one);
#                 id "from:YYYY-MM-DD": one set in the console, in force from that day
#                 (record_server.fee_schedules; the kiosk prices by the latest up to today)
PULL_ENTITIES: Final = ("reader", "card", "item", "loan", "fee", "staff", "fee_schedule")

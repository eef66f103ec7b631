"""The tables of the e-receipts and the dated fee schedules (issue 12 points 12 and 10), on
``record_server.models.metadata`` (migration 0014 creates them).

Kept out of ``models.py`` so the two features stay in their own modules; they are imported by
``record_server.models``' users through ``record_server.ereceipts`` and
``record_server.fee_schedules``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from record_server.models import metadata

# a receipt a kiosk issued with an e-receipt token: only the token's SHA-256 is kept; the body is
# the receipt as printed (masked data only, library_core.contract.receipt_doc.ReceiptDocument)
ereceipts = Table(
    "ereceipts", metadata,
    Column("receipt_no", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("kiosk_id", String(8), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("total", BigInteger),
    Column("payment_method", String(16), nullable=False, server_default=""),
    Column("body", Text, nullable=False),
    Column("event_id", String(36), nullable=False),
    Index("ix_ereceipts_kiosk_issued", "kiosk_id", "issued_at"),
)

# a fee schedule edited in the console, in force from its date (library-local) until the next
# one; before the first, the server's configured schedule (record_server.fee_schedules)
fee_schedules = Table(
    "fee_schedules", metadata,
    Column("effective_from", String(10), primary_key=True),
    Column("data", Text, nullable=False),
    Column("staff_no", String(8), nullable=False),
    Column("saved_at", String(40), nullable=False),
)

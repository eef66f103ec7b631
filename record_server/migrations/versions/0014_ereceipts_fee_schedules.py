"""e-receipts and dated fee schedules (issue 12 points 12 and 10)

``ereceipts``: a receipt a kiosk pushed with ``receipt.issued``: the SHA-256 of its e-receipt
token (never the token), the receipt as printed (masked), its kiosk, kind, time and total.
``fee_schedules``: a fee schedule edited in the console, in force from ``effective_from``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ereceipts",
        sa.Column("receipt_no", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("kiosk_id", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("issued_at", sa.String(40), nullable=False),
        sa.Column("total", sa.BigInteger, nullable=True),
        sa.Column("payment_method", sa.String(16), nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_ereceipts_kiosk_issued", "ereceipts", ["kiosk_id", "issued_at"])
    op.create_table(
        "fee_schedules",
        sa.Column("effective_from", sa.String(10), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("staff_no", sa.String(8), nullable=False),
        sa.Column("saved_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fee_schedules")
    op.drop_table("ereceipts")

"""payments by out-trade-number: a provider trade is booked once

``record_server.ingest.trades`` refuses money in that names an out-trade-number already booked
(``trade_booked``): one indexed count per mobile payment pushed, instead of a scan of every
payment.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 18:50:00
"""

from __future__ import annotations

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_payments_out_trade_no", "payments", ["out_trade_no"])


def downgrade() -> None:
    op.drop_index("ix_payments_out_trade_no", table_name="payments")

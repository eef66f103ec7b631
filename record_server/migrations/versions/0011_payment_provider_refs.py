"""payments carry the provider's transaction id and the kiosk's out-trade-number

Issue 13 point 3: reconciliation of the provider's daily bill against our books matches on the
provider's transaction id (``payment.recorded`` carries it, additive). Older rows have none.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("transaction_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("out_trade_no", sa.String(64), nullable=True))
    op.create_index("ix_payments_transaction_id", "payments", ["transaction_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_transaction_id", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("out_trade_no")
        batch.drop_column("transaction_id")

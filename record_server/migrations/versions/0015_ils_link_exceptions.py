"""the ILS link in kiosk health and kiosks' ILS exception reports (issue 15)

``kiosk_status`` gains the ILS link a SIP2 kiosk reports (state, last error, its time, the
transactions queued; NULL state for a kiosk with no ILS). ``ils_exceptions``: transactions a
kiosk queued while the ILS was down and the ILS refused when forwarded (``ils.refused``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kiosk_status") as batch:
        batch.add_column(sa.Column("ils_state", sa.String(8), nullable=True))
        batch.add_column(sa.Column("ils_last_error", sa.String(64), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("ils_last_error_detail", sa.String(200), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("ils_last_error_at", sa.String(40), nullable=True))
        batch.add_column(sa.Column("ils_queued", sa.BigInteger, nullable=True))
    op.create_table(
        "ils_exceptions",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("ref", sa.String(160), nullable=False, unique=True),
        sa.Column("kiosk_id", sa.String(8), nullable=False),
        sa.Column("queue_kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("answer", sa.String(500), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=True),
        sa.Column("queued_at", sa.String(40), nullable=False),
        sa.Column("refused_at", sa.String(40), nullable=False),
        sa.Column("received_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_ils_exceptions_refused", "ils_exceptions", ["refused_at"])


def downgrade() -> None:
    op.drop_index("ix_ils_exceptions_refused", table_name="ils_exceptions")
    op.drop_table("ils_exceptions")
    with op.batch_alter_table("kiosk_status") as batch:
        for name in ("ils_queued", "ils_last_error_at", "ils_last_error_detail",
                     "ils_last_error", "ils_state"):
            batch.drop_column(name)

"""the console's reports side: ``kiosk_status``, ``review_resolutions``, ``visitor_purges``,
``visits.purged_at``

Issue 12 points 2, 6 and 7: kiosks report their device status with each push (one row per
kiosk, upserted); a review item resolved in the console is recorded with who, when and why;
each run of the visitor retention purge is kept, and a purged visit is marked.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_status",
        sa.Column("kiosk_id", sa.String(8), primary_key=True),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.Column("reported_at", sa.String(40), nullable=False),
        sa.Column("software_version", sa.String(32), nullable=False),
        sa.Column("card_reader", sa.String(16), nullable=False),
        sa.Column("printer_online", sa.Boolean, nullable=False),
        sa.Column("printer_paper", sa.String(16), nullable=False),
        sa.Column("printer_cover_open", sa.Boolean, nullable=False),
        sa.Column("scanner", sa.String(16), nullable=False),
        sa.Column("pending_events", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_sync_error", sa.String(200), nullable=False, server_default=""),
    )
    op.create_table(
        "review_resolutions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_kind", sa.String(16), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.String(300), nullable=False),
        sa.Column("staff_no", sa.String(8), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.UniqueConstraint("item_kind", "item_id", name="uq_review_resolutions_item"),
    )
    op.create_table(
        "visitor_purges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("cutoff", sa.String(40), nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=False),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("by", sa.String(16), nullable=False),
    )
    with op.batch_alter_table("visits") as batch:
        batch.add_column(sa.Column("purged_at", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("purged_at")
    op.drop_table("visitor_purges")
    op.drop_table("review_resolutions")
    op.drop_table("kiosk_status")

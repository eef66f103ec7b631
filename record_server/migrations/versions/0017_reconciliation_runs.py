"""reconciliation runs of the console's finance page (issue 13.3)

``reconciliation_runs``: one row per provider bill file imported on the finance page (who,
when, the file's name and SHA-256, its rows, the days of our books it was set against, the
totals and the mismatches as JSON), so a run can be seen again later.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("run_id", sa.String(16), primary_key=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("staff_no", sa.String(8), nullable=False),
        sa.Column("provider", sa.String(8), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("days", sa.String(400), nullable=False),
        sa.Column("bill_rows", sa.Integer, nullable=False),
        sa.Column("matched", sa.Integer, nullable=False),
        sa.Column("mismatch_count", sa.Integer, nullable=False),
        sa.Column("provider_total", sa.BigInteger, nullable=False),
        sa.Column("books_total", sa.BigInteger, nullable=False),
        sa.Column("mismatches", sa.Text, nullable=False),
    )
    op.create_index("ix_reconciliation_runs_created", "reconciliation_runs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_reconciliation_runs_created", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")

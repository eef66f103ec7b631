"""log-in rate limits shared by every server worker: ``login_hits``

Issue 11 point 5/7: ``record-server serve --workers N`` runs several processes, so the log-in
and enrollment rate limits count hits in the database (one row per bucket and minute, bumped
by one atomic upsert), not in each process's memory. Staff lockouts need no new column:
``staff.failed_attempts`` now counts every wrong PIN in a row across lockouts
(``library_core.rules.PinLockout``), which also gives the backoff step.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_hits",
        sa.Column("bucket", sa.String(200), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_index("ix_login_hits_minute", "login_hits", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_login_hits_minute", table_name="login_hits")
    op.drop_table("login_hits")

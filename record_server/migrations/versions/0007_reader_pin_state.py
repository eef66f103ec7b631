"""reader PINs checked by the server: ``reader_pin_state``

Issue 11 point 3: kiosks hold no reader's PIN hash; a replacement's PIN is checked by the server
(``POST /api/v1/kiosks/{id}/reader-pin``), which counts wrong PINs per reader by the one lockout
policy (``library_core.rules.PinLockout``). A row exists only once a wrong PIN was given.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0005'  # 0006 was reserved and never needed; the next migration is 0008
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reader_pin_state",
        sa.Column("reader_id", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.String(40), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("reader_pin_state")

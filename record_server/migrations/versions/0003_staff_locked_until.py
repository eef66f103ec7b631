"""staff PIN lockout ends by itself: ``staff.locked_until``

One PIN-lockout policy for kiosk and server (``library_core.rules.PinLockout``): five wrong
PINs lock the account for 30 minutes; a supervisor may unlock earlier. An account locked
before this column existed (``locked`` and no ``locked_until``) stays locked until unlocked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("locked_until", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("locked_until")

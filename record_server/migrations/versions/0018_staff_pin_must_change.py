"""staff who must change their kiosk PIN after a kiosk was revoked (docs/security.md 5.7 step 4)

``staff_pin_must_change``: one row per member of staff who logged in at a kiosk that was then
revoked (``record_server.pin_change``); their kiosk log-in answers ``pin_must_change`` until a
supervisor resets the PIN.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_pin_must_change",
        sa.Column("staff_no", sa.String(8), primary_key=True),
        sa.Column("kiosk_id", sa.String(8), nullable=False),
        sa.Column("since", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("staff_pin_must_change")

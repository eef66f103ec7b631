"""staff authority at kiosks: kiosk_staff_sessions, kiosk_offline_keys, offline_verifiers,
offline_staff_actions

Issue 11 points 2 and 3 (docs/security.md 5.1-5.4): a staff log-in at a kiosk is checked by the
server, which keeps the session and its MAC key here (so every worker verifies the proofs of
staff events); each kiosk's offline key, the offline verifiers issued to it (their MAC keys) and
the offline staff actions applied, for the day's offline cash limit and a supervisor's review.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_staff_sessions",
        sa.Column("session_id", sa.String(40), primary_key=True),
        sa.Column("kiosk_id", sa.String(8), nullable=False),
        sa.Column("staff_no", sa.String(8), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("session_key", sa.String(64), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_kiosk_staff_sessions_kiosk_id", "kiosk_staff_sessions", ["kiosk_id"])
    op.create_table(
        "kiosk_offline_keys",
        sa.Column("kiosk_id", sa.String(8), primary_key=True),
        sa.Column("offline_key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "offline_verifiers",
        sa.Column("verifier_id", sa.String(40), primary_key=True),
        sa.Column("kiosk_id", sa.String(8), nullable=False),
        sa.Column("staff_no", sa.String(8), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("mac_key", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.String(40), nullable=False),
        sa.Column("valid_until", sa.String(40), nullable=False),
    )
    op.create_index("ix_offline_verifiers_kiosk_id", "offline_verifiers", ["kiosk_id"])
    op.create_table(
        "offline_staff_actions",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("kiosk_id", sa.String(8), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("staff_no", sa.String(8), nullable=False),
        sa.Column("verifier_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_offline_staff_actions_kiosk_day", "offline_staff_actions",
                    ["kiosk_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_offline_staff_actions_kiosk_day", table_name="offline_staff_actions")
    op.drop_table("offline_staff_actions")
    op.drop_index("ix_offline_verifiers_kiosk_id", table_name="offline_verifiers")
    op.drop_table("offline_verifiers")
    op.drop_table("kiosk_offline_keys")
    op.drop_index("ix_kiosk_staff_sessions_kiosk_id", table_name="kiosk_staff_sessions")
    op.drop_table("kiosk_staff_sessions")

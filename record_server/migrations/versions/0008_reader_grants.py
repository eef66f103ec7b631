"""a reader's proof of presence: ``reader_grants``

Issue 11 ("a thief with a kiosk token"): a kiosk token alone could report any reader's card lost
or replace it. Now the server's reader-PIN check answers ``ok`` with a grant, kept here only as
its SHA-256, bound to that kiosk and that reader for a few minutes; a lost-card block without
staff and every replacement must name one (``record_server/ingest/grants.py``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reader_grants",
        sa.Column("grant_hash", sa.String(64), primary_key=True),
        sa.Column("kiosk_id", sa.String(64), nullable=False),
        sa.Column("reader_id", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_reader_grants_expires_at", "reader_grants", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_reader_grants_expires_at", table_name="reader_grants")
    op.drop_table("reader_grants")

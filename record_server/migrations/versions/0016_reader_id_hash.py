"""the keyed hash of each reader's ID number, indexed (issue 12 point 5)

``readers.id_hash``: HMAC-SHA256 of the normalised ID number with the library key
(``library_core.identity.id_number_hash``), the console's search by ID number. NULL until the
server, which holds the key, fills it (``record_server.reader_hashes.fill_missing`` at start).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 15:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("readers") as batch:
        batch.add_column(sa.Column("id_hash", sa.String(64), nullable=True))
        batch.create_index("ix_readers_id_hash", ["id_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("readers") as batch:
        batch.drop_index("ix_readers_id_hash")
        batch.drop_column("id_hash")

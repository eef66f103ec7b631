"""indexes for the console's reader search by name and the dashboard's visitors on site
(issue 12's bench: 1,000,000 readers, a year of events)

``ix_readers_name_prefix``: readers by name then reader id, for the name search's prefix range
(``readers_data.search``: ``name >= q AND name < end``, ordered, 50 rows). On PostgreSQL in the
"C" collation (code-point order: a prefix is one range in it, whatever the database's own
collation; the query compares ``name COLLATE "C"`` to match); SQLite's default order is already
code points. ``ix_visits_open_expires``: the open visits by expiry (``today_report.on_site_now``).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX ix_readers_name_prefix ON readers (name COLLATE "C", reader_id)')
    else:
        op.create_index("ix_readers_name_prefix", "readers", ["name", "reader_id"])
    op.create_index("ix_visits_open_expires", "visits", ["expires_at"],
                    postgresql_where=sa.text("closed_at IS NULL"),
                    sqlite_where=sa.text("closed_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_visits_open_expires", table_name="visits")
    op.drop_index("ix_readers_name_prefix", table_name="readers")

"""the server numbers its kiosks: ``kiosks.kiosk_no``

Issue 11 point 1 (numbering): a kiosk's number (1..65535) is assigned by the server at
enrollment and handed to the kiosk with its token; receipt numbers, visit ids and card serials
a kiosk pushes must lie in its number's range. Kiosks enrolled before this column existed get
numbers in the order they were created (they re-learn theirs at the next exchange or position
call).

``kiosk_numbers`` keeps, per kiosk, the highest number it has used in each of its ranges
(``card_serial``, ``visit_no``, ``receipt:<YYYY-MM-DD>``) as its pushed events show them, so a
kiosk whose store was wiped or restored learns where to resume (GET .../position).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kiosks") as batch:
        batch.add_column(sa.Column("kiosk_no", sa.Integer, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT kiosk_id FROM kiosks ORDER BY created_at, kiosk_id")).all()
    for n, row in enumerate(rows, start=1):
        conn.execute(sa.text("UPDATE kiosks SET kiosk_no = :n WHERE kiosk_id = :k"),
                     {"n": n, "k": row.kiosk_id})
    op.create_index("uq_kiosks_kiosk_no", "kiosks", ["kiosk_no"], unique=True)
    op.create_table(
        "kiosk_numbers",
        sa.Column("kiosk_id", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(24), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kiosk_numbers")
    op.drop_index("uq_kiosks_kiosk_no", table_name="kiosks")
    with op.batch_alter_table("kiosks") as batch:
        batch.drop_column("kiosk_no")

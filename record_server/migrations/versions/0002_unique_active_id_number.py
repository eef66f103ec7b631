"""one active reader per ID number (partial unique index)

Readers registered with the same ID number at two kiosks at the same moment could both stay
active once batches of different kiosks applied concurrently on PostgreSQL. Before the index is
made, such pairs are merged the way ``same_id_number_merges_into_first_reader`` merges them:
the reader registered first stays; the other is cancelled and ``merged_into`` it, its cards,
fees, loans, payments and credit move to it, and a conflict row records the merge.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

INDEX = "uq_readers_active_id_number"
WHERE = "status = 'active' AND merged_into IS NULL"
RULE = "same_id_number_merges_into_first_reader"
MOVED = ("cards", "fees", "loans", "payments", "credit_entries")


def _merge_duplicates(conn: sa.Connection) -> None:
    dupes = conn.execute(sa.text(
        f"SELECT id_number FROM readers WHERE {WHERE} GROUP BY id_number HAVING COUNT(*) > 1"
    )).scalars().all()
    now = dt.datetime.now(dt.UTC).isoformat()
    for id_number in dupes:
        rows = conn.execute(sa.text(
            f"SELECT reader_id, credit FROM readers WHERE id_number = :n AND {WHERE}"
            " ORDER BY registered_at, reader_id"), {"n": id_number}).all()
        kept = rows[0].reader_id
        for row in rows[1:]:
            merged = row.reader_id
            for table in MOVED:
                conn.execute(sa.text(f"UPDATE {table} SET reader_id = :kept"  # noqa: S608
                                     " WHERE reader_id = :merged"),
                             {"kept": kept, "merged": merged})
            conn.execute(sa.text("UPDATE readers SET credit = credit + :c WHERE reader_id = :kept"),
                         {"c": int(row.credit or 0), "kept": kept})
            conn.execute(sa.text("UPDATE readers SET status = 'cancelled', merged_into = :kept,"
                                 " credit = 0 WHERE reader_id = :merged"),
                         {"kept": kept, "merged": merged})
            conn.execute(sa.text(
                "INSERT INTO conflicts (rule, kiosk_id, event_id, entity, entity_id, decision,"
                " detail, created_at, resolved) VALUES (:rule, NULL, NULL, 'reader', :kept,"
                " :decision, :detail, :now, :resolved)"),
                {"rule": RULE, "kept": kept, "now": now, "resolved": False,
                 "decision": f"reader {merged} merged into {kept} (migration 0002)",
                 "detail": json.dumps({"kept": kept, "merged": merged, "by": "migration 0002"},
                                      sort_keys=True)})


def upgrade() -> None:
    _merge_duplicates(op.get_bind())
    with op.batch_alter_table('readers', schema=None) as batch_op:
        batch_op.create_index(INDEX, ['id_number'], unique=True,
                              postgresql_where=sa.text(WHERE), sqlite_where=sa.text(WHERE))


def downgrade() -> None:
    with op.batch_alter_table('readers', schema=None) as batch_op:
        batch_op.drop_index(INDEX)

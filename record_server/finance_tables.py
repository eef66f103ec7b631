"""The table of the console's bill reconciliations (issue 13.3), on
``record_server.models.metadata`` (migration 0017 creates it).

One row per provider bill file imported on the finance page: who imported it, when, the file's
name and SHA-256, the rows it held, the books' days it was set against, the totals and every
mismatch (JSON, amounts in fen), so a run can be seen again later exactly as it was found.
Kept out of ``models.py`` (the finance page's own table; record_server.console.bill_import).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from record_server.models import metadata

reconciliation_runs = Table(
    "reconciliation_runs", metadata,
    Column("run_id", String(16), primary_key=True),
    Column("created_at", String(40), nullable=False),
    Column("staff_no", String(8), nullable=False),
    Column("provider", String(8), nullable=False),  # wechat | alipay
    Column("file_name", String(200), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("days", String(400), nullable=False),  # the books' days, comma separated
    Column("bill_rows", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("mismatch_count", Integer, nullable=False),
    Column("provider_total", BigInteger, nullable=False),
    Column("books_total", BigInteger, nullable=False),
    Column("mismatches", Text, nullable=False),  # JSON list, see bill_import.Found
    Index("ix_reconciliation_runs_created", "created_at"),
)

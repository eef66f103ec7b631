"""the back-office console's foundation: web passwords, console sessions, the audit log

Issue 12 point 1: staff log in to the console (and ``POST /api/v1/staff/login``) with a web
password, never the kiosk PIN: ``staff.password_hash`` (scrypt), its own failure count and lock
(``password_failures``, ``password_locked_until``), and the one-time code a supervisor issues
(``password_code_hash``, ``password_code_expires_at``) that sets it on first log-in.
``console_sessions``: the browser's session (cookie token hashed, CSRF token, idle time).
``kiosks.name``: what the office calls a kiosk (point 8).
``audit_log``: every change made in the console, who, when, what, before and after.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(200), nullable=True))
        batch.add_column(sa.Column("password_failures", sa.Integer, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("password_locked_until", sa.String(40), nullable=True))
        batch.add_column(sa.Column("password_code_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("password_code_expires_at", sa.String(40), nullable=True))
    with op.batch_alter_table("kiosks") as batch:
        batch.add_column(sa.Column("name", sa.String(64), nullable=True))
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("staff_no", sa.String(8), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("last_seen_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("staff_no", sa.String(8), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("target", sa.String(64), nullable=False, server_default=""),
        sa.Column("reader_id", sa.String(64), nullable=True),
        sa.Column("kiosk_id", sa.String(8), nullable=True),
        sa.Column("before", sa.Text, nullable=False, server_default="{}"),
        sa.Column("after", sa.Text, nullable=False, server_default="{}"),
        sa.Column("reason", sa.String(300), nullable=False, server_default=""),
    )
    op.create_index("ix_audit_log_day", "audit_log", ["day"])
    op.create_index("ix_audit_log_staff", "audit_log", ["staff_no", "id"])
    op.create_index("ix_audit_log_reader", "audit_log", ["reader_id", "id"])
    op.create_index("ix_audit_log_kiosk", "audit_log", ["kiosk_id", "id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("console_sessions")
    with op.batch_alter_table("kiosks") as batch:
        batch.drop_column("name")
    with op.batch_alter_table("staff") as batch:
        for name in ("password_code_expires_at", "password_code_hash", "password_locked_until",
                     "password_failures", "password_hash"):
            batch.drop_column(name)

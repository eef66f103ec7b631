"""The health check's one query."""

from __future__ import annotations

from sqlalchemy import Connection, select

from record_server import models as m


def ping(conn: Connection) -> None:
    """Read the server state row (raises the driver's error when the database is unusable)."""
    conn.execute(select(m.server_state.c.last_change_seq)).first()

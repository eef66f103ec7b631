"""Transactions and retries: per-event savepoints, transient database errors, ``Busy``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


@contextlib.contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A plain SQL savepoint per event (SQLAlchemy's named ones cost a compile each)."""
    conn.exec_driver_sql("SAVEPOINT event")
    try:
        yield
    except BaseException:
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT event")
        conn.exec_driver_sql("RELEASE SAVEPOINT event")
        raise
    conn.exec_driver_sql("RELEASE SAVEPOINT event")


# PostgreSQLh another one and may simply run again.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
PUSH_ATTEMPTS = 4
RETRY_AFTER_S = 1


class Busy(Exception):
    """The batch lost a race with concurrent batches ``PUSH_ATTEMPTS`` times: answer 503 with
    ``Retry-After: retry_after`` (the kiosk client retries)."""

    def __init__(self, retry_after: int = RETRY_AFTER_S) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


def is_transient(err: BaseException) -> bool:
    """A deadlock or serialization failure (PostgreSQL), or a locked SQLite database."""
    if not isinstance(err, DBAPIError):
        return False
    state = getattr(err.orig, "sqlstate", None)
    if state in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(err.orig)


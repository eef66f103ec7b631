"""Engine set-up (SQLite WAL or PostgreSQL), write transactions and migrations.

Writes that touch the change log lock the ``server_state`` row before they number their changes
and hold it to the commit: that serialises publishing, so change sequence numbers are committed
in order and a pull never skips a change. On SQLite a
process-wide lock plus ``BEGIN IMMEDIATE`` avoids busy errors between writers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select, update
from sqlalchemy.pool import NullPool

from record_server import models

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Database:
    """One engine plus the write discipline for it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
                raise ValueError("use a SQLite file, not an in-memory database")
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success and rolled back on any error."""
        lock = self._write_lock if self.is_sqlite else contextlib.nullcontext()
        with lock, self.engine.connect() as conn:
            conn = conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # an `applied` answer survives a power cut (WAL)
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision and make sure the state row exists."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with engine.begin() as conn:
        if conn.execute(select(models.server_state.c.id)).first() is None:
            conn.execute(models.server_state.insert().values(id=1, last_change_seq=0))


_LOCK_STATE = (update(models.server_state).where(models.server_state.c.id == 1)
               .values(last_change_seq=models.server_state.c.last_change_seq))
_READ_STATE = select(models.server_state.c.last_change_seq).where(models.server_state.c.id == 1)


def allocate_seq_block(conn: Connection) -> int:
    """Lock the change counter for this transaction and return its current value."""
    conn.execute(_LOCK_STATE)
    return int(conn.execute(_READ_STATE).scalar_one())


def disposable_engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)

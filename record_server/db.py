"""Engine set-up (SQLite WAL or PostgreSQL), write transactions and migrations.

Writes that touch the change log lock the ``server_state`` row before they number their changes
and hold it to the commit: that serialises publishing, so change sequence numbers are committed
in order and a pull never skips a change. On SQLite a
process-wide lock plus ``BEGIN IMMEDIATE`` avoids busy errors between writers.

SQLite commits with ``synchronous=FULL`` (an answered write survives a power cut): one fsync
per commit, and commits take turns. ``write_grouped`` (kiosk pushes) lets the pushes that
queued meanwhile share one commit: each runs in its own savepoint of one transaction (undone
alone if it fails), and each returns only once that transaction is committed, so nothing is
answered before it is on disk. A plain ``write`` commits any open group first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select, update
from sqlalchemy.pool import NullPool

from record_server import models

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
GROUP_MAX_WRITES = 32  # a group commits once it holds this many writes ...
GROUP_MAX_AGE_S = 0.5  # ... or is this old, even with more queued. Not less: a loaded machine
# stretches one 100-event push to 0.1-0.2 s, and a 0.1 s cap then committed after every write
# (1.1 writes per fsync in bench 3), just when the fsyncs were the queue everyone waited in


class _Group:
    """An open SQLite transaction shared by grouped writes, until one of them commits it."""

    def __init__(self, conn: Connection, txn: Any) -> None:
        self.conn, self.txn = conn, txn
        self.writes = 0
        self.opened = time.monotonic()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def finish(self) -> None:
        """Commit (one fsync for every write in it); on failure every writer gets the error."""
        try:
            self.txn.commit()
        except BaseException as err:
            self.error = err
            with contextlib.suppress(Exception):
                self.txn.rollback()
            raise
        finally:
            self.conn.close()
            self.done.set()


class Database:
    """One engine plus the write discipline for it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.Lock()
        self._gate = threading.Lock()  # guards _queued
        self._queued = 0  # grouped writes waiting for the write lock
        self._group: _Group | None = None
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            # A request holds its read connection between thread-pool hops (its dependency,
            # its route): with a bounded pool, 40 threads all waiting for a connection while
            # the holders wait for a thread stalled every request for the 30 s pool timeout
            # (bench 5, 200 kiosks). A SQLite connection is a file handle: open more at a peak
            # and close them after (10 are kept).
            kwargs.update(pool_size=10, max_overflow=-1)
            if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
                raise ValueError("use a SQLite file, not an in-memory database")
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)

    def use_library_key(self, key: bytes) -> None:
        """Carry the library key on every connection (``record_server.reader_hashes``)."""
        self.engine = self.engine.execution_options(library_key=key)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on success and rolled back on any error."""
        lock = self._write_lock if self.is_sqlite else contextlib.nullcontext()
        with lock:
            if self._group is not None:
                self._finish_group()
            with self.engine.connect() as conn:
                conn = conn.execution_options(immediate=True)
                with conn.begin():
                    yield conn

    @contextlib.contextmanager
    def write_grouped(self) -> Iterator[Connection]:
        """``write`` whose commit (SQLite) is shared with the grouped writes queued meanwhile.

        The body runs in a savepoint of the group's transaction: an error undoes this write
        alone and is raised. On success it returns once the group has committed; if that
        commit fails, the commit's error is raised here too (nothing was written). PostgreSQL
        groups concurrent commits itself: there this is ``write``."""
        if not self.is_sqlite:
            with self.write() as conn:
                yield conn
            return
        with self._gate:
            self._queued += 1
        self._write_lock.acquire()
        with self._gate:
            self._queued -= 1
        try:
            group = self._group if self._group is not None else self._open_group()
        except BaseException:
            self._write_lock.release()
            raise
        group.writes += 1
        conn = group.conn
        conn.exec_driver_sql("SAVEPOINT grouped_write")
        failed = True
        try:
            yield conn
            conn.exec_driver_sql("RELEASE SAVEPOINT grouped_write")
            failed = False
        finally:
            try:
                if failed:  # undo this write alone; the group's others still commit
                    conn.exec_driver_sql("ROLLBACK TO SAVEPOINT grouped_write")
                    conn.exec_driver_sql("RELEASE SAVEPOINT grouped_write")
            finally:
                self._leave_group(group, wait=not failed)

    def _open_group(self) -> _Group:
        conn = self.engine.connect().execution_options(immediate=True)
        try:
            txn = conn.begin()
        except BaseException:
            conn.close()
            raise
        self._group = _Group(conn, txn)
        return self._group

    def _finish_group(self) -> None:
        group, self._group = self._group, None
        if group is not None:
            group.finish()

    def _leave_group(self, group: _Group, *, wait: bool) -> None:
        """Holding the write lock: commit the group now, or leave that to the next in line
        (one is queued) and wait for it. Raises the commit's error."""
        with self._gate:
            queued = self._queued
        if (queued and group.writes < GROUP_MAX_WRITES
                and time.monotonic() - group.opened < GROUP_MAX_AGE_S):
            self._write_lock.release()
            if wait:
                group.done.wait()
        else:
            try:
                self._finish_group()
            finally:
                self._write_lock.release()
        if wait and group.error is not None:
            raise group.error

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

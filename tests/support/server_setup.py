"""A test server's set-up without a Python process per command (``ServerProcess``).

Most server tests begin alike: ``record-server migrate`` and a few ``create-staff`` on an empty
database, each a Python process that imports the whole server (1.5 s of CPU each, far more on a
loaded machine). The first time a sequence of these commands (same arguments, same environment)
runs in a session it runs for real, and a copy of the database it left is kept; a later server
beginning with the same sequence gets a copy of that database instead: a file copy for SQLite,
``CREATE DATABASE ... TEMPLATE`` for PostgreSQL. What the copy holds is what the real commands
wrote, so the tests see the same database; the commands' own tests call them directly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SETUP_COMMANDS = ("migrate", "create-staff")
# (set-up commands so far) -> (the copy: a SQLite file or a PostgreSQL database name, the last
# command's stdout)
_templates: dict[tuple[Any, ...], tuple[str, str]] = {}


def _sqlite_file(database_url: str) -> Path | None:
    if not database_url.startswith("sqlite:///"):
        return None
    return Path(database_url.removeprefix("sqlite:///"))


def _pg_admin(database_url: str) -> Any:
    """An autocommit connection to the cluster's ``postgres`` database (for CREATE DATABASE)."""
    import psycopg

    url = urlsplit(database_url)
    return psycopg.connect(host=url.hostname, port=url.port, user=url.username or "postgres",
                           dbname="postgres", autocommit=True)


def _pg_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def is_fresh(database_url: str) -> bool:
    """True for a database nothing has been written to yet: a SQLite file that does not exist,
    or a PostgreSQL database with no tables. Anything else is never replaced by a copy."""
    db = _sqlite_file(database_url)
    if db is not None:
        return not db.exists()
    if not database_url.startswith("postgresql"):
        return False
    import psycopg

    url = urlsplit(database_url)
    try:
        with psycopg.connect(host=url.hostname, port=url.port, user=url.username or "postgres",
                             dbname=_pg_name(database_url)) as conn:
            row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                               ).fetchone()
    except psycopg.Error:
        return False
    return row is not None and row[0] == 0


def stamp(database_url: str) -> tuple[int, int] | None:
    """The SQLite file's size and change time: a test that wrote to it between two set-up
    commands changes it, and then the set-up is no longer copied."""
    db = _sqlite_file(database_url)
    if db is None or not db.exists():
        return None
    st = db.stat()
    return st.st_size, st.st_mtime_ns


def setup_key(done: tuple[Any, ...], args: tuple[str, ...], env: dict[str, str] | None,
              database_url: str) -> tuple[Any, ...]:
    """The key of the set-up so far plus this command (its arguments and the server's settings
    it runs with)."""
    settings = {k: v for k, v in os.environ.items() if k.startswith("RECORD_SERVER_")}
    kind = "sqlite" if database_url.startswith("sqlite") else f"pg:{urlsplit(database_url).port}"
    return (*done, (kind, *args, *sorted({**settings, **(env or {})}.items())))


def copy_in(key: tuple[Any, ...], database_url: str) -> str | None:
    """Make ``database_url`` a copy of the template for ``key``; its stdout, or None if none."""
    hit = _templates.get(key)
    if hit is None:
        return None
    source, out = hit
    db = _sqlite_file(database_url)
    if db is not None:
        shutil.copyfile(source, db)
        return out
    name = _pg_name(database_url)
    with _pg_admin(database_url) as conn:
        conn.execute(f'DROP DATABASE "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    return out


def keep(key: tuple[Any, ...], database_url: str, out: str) -> None:
    """Keep a copy of what the real commands left in ``database_url`` (they have exited: the
    SQLite WAL is checkpointed, no connection holds the PostgreSQL database)."""
    db = _sqlite_file(database_url)
    if db is not None:
        copy = Path(tempfile.mkdtemp(prefix="server-template-")) / "records.sqlite3"
        shutil.copyfile(db, copy)
        _templates[key] = (str(copy), out)
        return
    name = f"tmpl_{os.getpid()}_{len(_templates)}"
    with _pg_admin(database_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_name(database_url)}"')
    _templates[key] = (name, out)


def enroll_code(data_dir: Path, database_url: str, kiosk_id: str, branch: str = "main") -> str:
    """A one-time enrollment code for ``kiosk_id``, made in this process by what
    ``record-server enroll-kiosk`` runs: ``auth.enroll_kiosk`` with the configured lifetime."""
    from library_core.clock import SystemClock
    from record_server import auth
    from record_server.config import load_config
    from record_server.db import Database

    config = load_config(data_dir=data_dir, database_url=database_url)
    db = Database(config.database_url)
    try:
        return auth.enroll_kiosk(db, kiosk_id, SystemClock(), branch=branch,
                                 hours=config.enroll_code_hours)
    finally:
        db.dispose()

"""A throwaway PostgreSQL 15 cluster for tests: initdb into a temp dir as the postgres user,
pg_ctl with a private socket dir, listening on 127.0.0.1 only; stopped and removed afterwards.

Use the session fixture ``postgres_cluster`` and ``cluster.create_database()`` per test.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
_counter = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
    return subprocess.run(prefix + args, check=True, capture_output=True, text=True,
                          timeout=60, **kwargs)  # type: ignore[call-overload]


class PostgresCluster:
    """initdb + pg_ctl start on a free port; ``stop()`` shuts it down and deletes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.running = False

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o700)
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                      "postgres", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"])
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=200")
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                      "-t", "30", "-l", str(self.root / "server.log"), "start"])
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            try:
                _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                              "stop"])
            finally:
                self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL (psycopg 3)."""
        import psycopg

        name = name or f"records_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(name="postgres_cluster", scope="session")
def postgres_cluster_fixture() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()

"""The record server and PostgreSQL for the benchmarks, reusing the test fixtures' helpers.

``enroll(url, kiosk_ids)`` enrols kiosks straight through ``record_server.auth`` (no CLI per
kiosk) and returns their tokens; ``running_server`` starts a real server process on 127.0.0.1
and always stops it; ``postgres`` starts a throwaway cluster and always removes it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.postgres import PostgresCluster
from tests.support.server_process import ServerProcess


def enroll(database_url: str, kiosk_ids: list[str]) -> dict[str, str]:
    from library_core.clock import SystemClock
    from record_server import auth
    from record_server.db import Database

    db = Database(database_url)
    try:
        db.migrate()
        clock = SystemClock()
        tokens = {}
        for kiosk_id in kiosk_ids:
            code = auth.enroll_kiosk(db, kiosk_id, clock)
            token = auth.exchange_code(db, kiosk_id, code, clock)
            assert token is not None
            tokens[kiosk_id] = token
        return tokens
    finally:
        db.dispose()


@contextlib.contextmanager
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def running_server(database_url: str | None = None, data_dir: Path | None = None
                   ) -> Iterator[ServerProcess]:
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-srv-")))
        server = ServerProcess(data_dir, database_url)
        try:
            server.start()
            yield server
        finally:
            server.terminate()


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'records.sqlite3'}"

"""Run the record server inside another process (the kiosk demo): uvicorn in a thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn

from record_server.app import create_app
from record_server.config import load_config
from record_server.db import Database
from record_server.passwords import set_password_now
from record_server.seed import publish_fee_schedule, seed_rows

log = logging.getLogger(__name__)


class EmbeddedServer:
    """A running embedded server; ``stop()`` shuts it down and waits for the thread."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, db: Database,
                 url: str) -> None:
        self._server = server
        self._thread = thread
        self.db = db
        self.url = url

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self.db.dispose()


def start_embedded(host: str, port: int, data_dir: str | Path, *,
                   rows: Mapping[str, list[dict[str, Any]]] | None = None,
                   timeout: float = 15.0, library_key: bytes | None = None,
                   web_passwords: Mapping[str, str] | None = None) -> EmbeddedServer:
    """Start the server on ``host:port`` with a SQLite file in ``data_dir``; returns when ready.

    ``rows`` (entity -> rows shaped like the pulled entities) are seeded first. Raises
    RuntimeError when it does not come up within ``timeout`` seconds. ``library_key`` is the
    kiosks' (default: the environment's, else the demo placeholder the demo kiosk uses).
    ``web_passwords`` (staff number -> password) are set after seeding: the console's log-in.
    """
    config = load_config(data_dir=data_dir, database_url=None, library_key=library_key)
    config = type(config)(**{**config.__dict__,
                             "database_url": f"sqlite:///{Path(data_dir).resolve() / 'records.sqlite3'}"})
    db = Database(config.database_url)
    db.migrate()
    publish_fee_schedule(db, config.fee_schedule)
    if rows:
        seed_rows(db, rows)
    if web_passwords:
        with db.write() as conn:
            for staff_no, password in web_passwords.items():
                set_password_now(conn, staff_no, password)
    app = create_app(config, db=db)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="record-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"embedded record server did not start on {host}:{port}")
        time.sleep(0.02)
    log.info("embedded record server on http://%s:%d (console: http://%s:%d/console/)",
             host, port, host, port)
    return EmbeddedServer(server, thread, db, f"http://{host}:{port}")

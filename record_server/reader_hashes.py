"""The keyed hash of each reader's ID number on the server (``readers.id_hash``, indexed).

The console finds a reader by ID number through this hash (issue 12 point 5): the number
typed is hashed with the library key (``library_core.identity.id_number_hash``, the kiosks'
"same person" hash) and matched against the index, so a search never compares clear numbers.

The key travels with the database engine as the execution option ``library_key``
(``Database.use_library_key``): every writer of a reader (ingest, imports, seeding) computes
the hash from the connection it already has, no key passed through each call. A row written
without a key (a tool that opened the database without one) has a NULL hash; ``fill_missing``
fills those (the server runs it at start) through the partial index on the NULLs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import DBAPIError

from library_core.identity import id_number_hash
from record_server import models as m

if TYPE_CHECKING:
    from record_server.db import Database

log = logging.getLogger(__name__)
KEY_OPTION = "library_key"
FILL_BATCH = 5000


def key_of(conn: Connection) -> bytes | None:
    """The library key this connection's engine carries, or None."""
    key = conn.get_execution_options().get(KEY_OPTION)
    return bytes(key) if key else None


def of(conn: Connection, id_number: str) -> str | None:
    """The ID number's keyed hash with the connection's key; None without a key."""
    key = key_of(conn)
    return id_number_hash(id_number, key) if key else None


_MISSING = (select(m.readers.c.reader_id, m.readers.c.id_number)
            .where(m.readers.c.id_hash.is_(None)).limit(FILL_BATCH))
_SET = (update(m.readers).where(m.readers.c.reader_id == bindparam("_rid"))
        .values(id_hash=bindparam("_hash")))


def fill_missing(conn: Connection, key: bytes) -> int:
    """Hash every reader that has no hash yet; returns how many were filled."""
    filled = 0
    while True:
        rows = conn.execute(_MISSING).all()
        if not rows:
            break
        conn.execute(_SET, [{"_rid": r.reader_id, "_hash": id_number_hash(r.id_number, key)}
                            for r in rows])
        filled += len(rows)
    if filled:
        log.info("hashed the ID numbers of %d readers", filled)
    return filled


def fill_missing_at_start(db: Database, key: bytes) -> int:
    """``fill_missing`` in its own transaction; how many were filled. A database not migrated
    yet is left alone (``serve --no-migrate`` before ``migrate``: nothing to hash)."""
    try:
        with db.write() as conn:
            return fill_missing(conn, key)
    except DBAPIError as err:
        log.warning("reader ID hashes not filled (schema not migrated?): %s", err.orig)
        return 0

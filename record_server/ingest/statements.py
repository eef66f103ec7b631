"""Prebuilt statements shared by the handlers: one cached statement per table, key and columns.

Building and hashing a new SQLAlchemy statement per call was most of the ingest CPU, so every
statement the handlers run is built once and reused with bound parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from record_server import models as m

_BY_KEY: dict[tuple[str, str], Any] = {}
_UPDATES: dict[tuple[str, str, tuple[str, ...]], Any] = {}
_INSERTS: dict[str, Any] = {}


def by_key(conn: Connection, table: Any, key: Any, value: str) -> Any:
    """The row of ``table`` whose ``key`` is ``value`` (one cached statement per table/key)."""
    stmt = _BY_KEY.get((table.name, key.name))
    if stmt is None:
        stmt = _BY_KEY[(table.name, key.name)] = select(table).where(key == bindparam("v"))
    return conn.execute(stmt, {"v": value}).first()


def update_by_key(conn: Connection, table: Any, key: Any, value: str, **values: Any) -> None:
    """UPDATE table SET values WHERE key = value, one prebuilt statement per set of columns
    (building and hashing a new statement per call was most of the ingest CPU)."""
    cols = tuple(sorted(values))
    stmt = _UPDATES.get((table.name, key.name, cols))
    if stmt is None:
        stmt = _UPDATES[(table.name, key.name, cols)] = (
            update(table).where(key == bindparam("_key"))
            .values({c: bindparam(c) for c in cols}))
    conn.execute(stmt, {"_key": value, **values})


def insert_into(conn: Connection, table: Any, values: dict[str, Any]) -> None:
    stmt = _INSERTS.get(table.name)
    if stmt is None:
        stmt = _INSERTS[table.name] = insert(table)
    conn.execute(stmt, values)


ADD_CREDIT = (
    update(m.readers).where(m.readers.c.reader_id == bindparam("_key"))
    .values(credit=m.readers.c.credit + bindparam("amount")))
READER_MERGED = select(m.readers.c.reader_id, m.readers.c.merged_into).where(
    m.readers.c.reader_id == bindparam("v"))

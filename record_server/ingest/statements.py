"""Prebuilt statements shared by the handlers: one cached statement per table, key and columns.

Building and hashing a new SQLAlchemy statement per call was most of the ingest CPU, so every
statement the handlers run is built once and reused with bound parameters. While a batch runs,
``by_key`` answers from the batch's ``RowCache`` what it knows (keys known absent, rows the batch
wrote), and ``insert_into`` / ``update_by_key`` keep that cache up to date.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from record_server import models as m
from record_server.ingest import rowcache

_BY_KEY: dict[tuple[str, str], Any] = {}
_UPDATES: dict[tuple[str, str, tuple[str, ...]], Any] = {}
_INSERTS: dict[str, Any] = {}


def by_key(conn: Connection, table: Any, key: Any, value: str) -> Any:
    """The row of ``table`` whose ``key`` is ``value`` (one cached statement per table/key)."""
    cache = rowcache.current(conn)
    known = rowcache.MISSING if cache is None else cache.get(table.name, key.name, value)
    if known is not rowcache.MISSING and not isinstance(known, rowcache.Recheck):
        return known
    stmt = _BY_KEY.get((table.name, key.name))
    if stmt is None:
        stmt = _BY_KEY[(table.name, key.name)] = select(table).where(key == bindparam("v"))
    row = conn.execute(stmt, {"v": value}).first()
    if cache is not None and isinstance(known, rowcache.Recheck):
        cache.rechecked(table, key.name, value, known, row)
    return row


def update_by_key(conn: Connection, table: Any, key: Any, value: str, **values: Any) -> None:
    """UPDATE table SET values WHERE key = value, one prebuilt statement per set of columns
    (building and hashing a new statement per call was most of the ingest CPU)."""
    cols = tuple(sorted(values))
    stmt = _UPDATES.get((table.name, key.name, cols))
    if stmt is None:
        stmt = _UPDATES[(table.name, key.name, cols)] = (
            update(table).where(key == bindparam("_key"))
            .values({c: bindparam(c) for c in cols}))
    cache = rowcache.current(conn)
    if cache is None:
        conn.execute(stmt, {"_key": value, **values})
        return
    if cache.update_waiting(table, key.name, value, values):
        return  # the row's insert has not been written yet: it is written with these values
    with cache.own_statement():
        conn.execute(stmt, {"_key": value, **values})
    cache.updated(table, key.name, value, values)


def insert_into(conn: Connection, table: Any, values: dict[str, Any]) -> None:
    stmt = _INSERTS.get(table.name)
    if stmt is None:
        stmt = _INSERTS[table.name] = insert(table)
    cache = rowcache.current(conn)
    if cache is None:
        conn.execute(stmt, values)
        return
    if cache.insert_later(table, values):
        return
    with cache.own_statement():
        conn.execute(stmt, values)
    cache.inserted(table, values)


ADD_CREDIT = (
    update(m.readers).where(m.readers.c.reader_id == bindparam("_key"))
    .values(credit=m.readers.c.credit + bindparam("amount")))

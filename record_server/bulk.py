"""Many rows into one table as one driver ``executemany``, without per-row SQLAlchemy work.

A push writes each table's rows together (``rowcache.flush``, the events, the change log):
about three rows per event. Through ``Connection.execute(insert(table), rows)`` SQLAlchemy
builds every row's parameters anew from the compiled statement (``construct_params``), which
was the largest single cost left in a push after its statements were cut to one per table.
Here the statement is compiled once per dialect, table and column list, each column's bind
processor (``TypeEngine.bind_processor``: e.g. Boolean on SQLite) is applied by hand, and the
rows go to ``exec_driver_sql`` (still one statement on the connection, so its events and
logging are unchanged). Only for rows that all have the same keys; anything else (an empty list,
a statement with RETURNING) uses ``Connection.execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

# (sql, parameter names in order, their bind processors, positional) or None: not for this
# helper (the statement binds something the rows do not hold, e.g. a column default)
_Compiled = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...], bool] | None
_COMPILED: dict[tuple[str, str, tuple[str, ...], int], tuple[Any, _Compiled]] = {}
_PLAIN: dict[str, Any] = {}  # table name -> insert(table)


def _compiled(conn: Connection, table: Table, columns: tuple[str, ...], stmt: Any,
              ) -> _Compiled:
    dialect = conn.dialect
    key = (dialect.name, table.name, columns, id(stmt))
    found = _COMPILED.get(key)
    if found is None or found[0] is not stmt:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(
            compiled.bind_names.values())
        if set(names) != set(columns):
            result: _Compiled = None
        else:
            procs = tuple(table.c[n].type.dialect_impl(dialect).bind_processor(dialect)
                          for n in names)
            result = (str(compiled), names, procs, bool(compiled.positional))
        found = _COMPILED[key] = (stmt, result)  # the statement kept: its id stays its own
    return found[1]


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *,
                stmt: Any = None) -> None:
    """INSERT ``rows`` into ``table`` (``stmt``: an insert of it with an ON CONFLICT clause; no
    RETURNING) as one executemany."""
    if not rows:
        return
    statement = stmt
    if statement is None:
        statement = _PLAIN.get(table.name)
        if statement is None:
            statement = _PLAIN[table.name] = insert(table)
    columns = tuple(rows[0])
    compiled = None
    if all(tuple(r) == columns for r in rows):
        compiled = _compiled(conn, table, columns, statement)
    if compiled is None:
        conn.execute(statement, list(rows))  # mixed keys, defaults: SQLAlchemy sorts them out
        return
    sql, names, procs, positional = compiled
    if positional:
        params: list[Any] = [
            tuple(v if p is None else p(v) for v, p in zip((r[n] for n in names), procs,
                                                           strict=True)) for r in rows]
    elif any(p is not None for p in procs):
        params = [{n: (r[n] if p is None else p(r[n])) for n, p in zip(names, procs, strict=True)}
                  for r in rows]
    else:
        params = list(rows)
    conn.exec_driver_sql(sql, params)

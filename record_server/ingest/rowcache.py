"""What one batch knows about rows by key, so its events need not ask the database again.

A batch of new-reader events looks up, per event, keys that do not exist yet (a new reader's id,
card number, fee id, payment id, receipt number) and then the rows it has just written (the new
reader for its card, fee and payment). ``RowCache`` answers both without a statement:

- *absent*: keys the batch's payloads name as new, fetched together in one ``IN`` query per
  table and key before the events run (``prefetch``), only for keys the database itself keeps
  unique (primary key, unique index): if another transaction inserts one meanwhile, this batch's
  insert fails on the constraint and the batch runs again (``ordering.Redo``), as before;
- *rows this batch wrote*: inserted, or updated through ``statements`` (a row this transaction
  wrote is locked by it until the commit, so nobody else changes it meanwhile);
- *ID numbers no live reader holds* (``holder``): learnt for the batch's new readers in one
  query, then the batch's own active readers. Only absence and this batch's rows are kept: an ID
  number some reader already held is asked of the database, as before. On PostgreSQL a holder
  committed meanwhile by another kiosk is found by the unique index the insert relies on
  (``readers.reader_registered``), which then asks the database.

While a batch runs without per-event savepoints (``defer``: any failure undoes the whole batch
and it runs again with them), its inserts into these tables wait and go as one executemany per
table (``flush``): at the end of the batch, or before any other statement that reads or writes
that table; an update of a row still waiting changes the row before it is written.

Rows that were there before the batch are never cached: the handler reads them when it needs
them, as before (PostgreSQL's READ COMMITTED sees what other kiosks committed meanwhile).

Every other statement on the batch's connection is watched (``_before_execute``): the waiting
inserts into the tables it names are written first; a write to a cached table not made through
``statements`` drops that table's entries, and any ``ROLLBACK`` (an event's savepoint undone)
drops everything; the database is asked again after that.

Only ``ordering.apply_batch`` makes one (``active``), for the length of the batch, on the
thread that runs it (a context variable), for that connection only.
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, event, select
from sqlalchemy.dialects.postgresql.dml import OnConflictDoNothing as _PgDoNothing
from sqlalchemy.dialects.sqlite.dml import OnConflictDoNothing as _SqliteDoNothing
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.sql.util import find_tables

from record_server import bulk
from record_server import models as m

ABSENT = None
MISSING = object()


class Recheck:
    """A key that was absent, then named by an insert that may have done nothing (PostgreSQL's
    ``ON CONFLICT DO NOTHING``): the next lookup asks the database, and a row it finds with the
    values inserted is this batch's own."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

_CHUNK = 500
_current: contextvars.ContextVar[RowCache | None] = contextvars.ContextVar(
    "ingest_row_cache", default=None)
_watched: weakref.WeakSet[Engine] = weakref.WeakSet()

# (table, key column) pairs whose absence may be prefetched: the database keeps them unique
UNIQUE_KEYS: frozenset[tuple[str, str]] = frozenset({
    ("readers", "reader_id"), ("cards", "card_no"), ("fees", "fee_id"),
    ("payments", "payment_id"), ("payments", "receipt_no"), ("visits", "visit_id")})
# every key a handler looks rows up by (statements.by_key): the keys a written row is filed under
LOOKUP_KEYS: dict[str, tuple[str, ...]] = {
    "readers": ("reader_id",), "cards": ("card_no", "reader_id"), "fees": ("fee_id",),
    "payments": ("payment_id", "receipt_no"), "visits": ("visit_id",)}
_DO_NOTHING = (_PgDoNothing, _SqliteDoNothing)
_ORDER = [t.name for t in m.metadata.sorted_tables if t.name in LOOKUP_KEYS]
_TABLES_OF: dict[int, tuple[Any, frozenset[str]]] = {}  # statement -> the tables it names
HOLDER = "holder_of_id_number"  # the cache's key for "the live reader of this ID number"
_LIVE_HOLDERS = select(m.readers.c.id_number).where(
    m.readers.c.id_number.in_(bindparam("values", expanding=True)),
    m.readers.c.status == "active", m.readers.c.merged_into.is_(None))
_PREFETCH = {
    (table, key): select(m.metadata.tables[table].c[key]).where(
        m.metadata.tables[table].c[key].in_(bindparam("values", expanding=True)))
    for table, key in UNIQUE_KEYS}


class CachedRow:
    """A row this batch wrote, read like a ``Row`` (``row.column``).

    Its values dict is the object's ``__dict__``: ``row.column`` is a plain attribute read (a
    ``__getattr__`` per read was a visible part of a push), and ``_values`` is that same dict.
    """

    __slots__ = ("__dict__", "_waiting")
    _waiting: bool

    def __init__(self, values: dict[str, Any], waiting: bool) -> None:
        object.__setattr__(self, "__dict__", values)
        object.__setattr__(self, "_waiting", waiting)  # its insert not yet written

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...  # a column's value

    @property
    def _values(self) -> dict[str, Any]:
        return self.__dict__

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RowCache:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._rows: dict[tuple[str, str, str], CachedRow | Recheck | None] = {}
        self.own = False  # True while statements runs its own statement
        self.kiosk_nos: dict[str, int] = {}  # numbering: a kiosk's number, read once a batch
        # numbering: the highest number used per (kiosk, range), written once at the end of the
        # batch (None: written by each event, as when every event has its own savepoint)
        self.numbers: dict[tuple[str, str], int] | None = None
        self.defer = False  # inserts wait for ``flush`` (a batch without savepoints)
        self.pending: dict[str, list[CachedRow]] = {}

    # ---- reads
    def get(self, table: str, key: str, value: str) -> Any:
        """The cached answer (a CachedRow, ABSENT or a Recheck), or ``MISSING`` (ask the
        database)."""
        return self._rows.get((table, key, value), MISSING)

    def rechecked(self, table: Any, key: str, value: str, mark: Recheck, row: Any) -> None:
        """What the database answered for a Recheck key: kept if it is absent or our row."""
        if row is None:
            self._rows[(table.name, key, value)] = ABSENT
            return
        found = row._mapping
        if all(found.get(k) == v for k, v in mark.values.items()):
            self._file(table, dict(found), waiting=False)
        else:
            self._rows.pop((table.name, key, value), None)

    def holder(self, id_number: str) -> Any:
        """The live reader of ``id_number`` this batch knows (its own row), ABSENT (none), or
        ``MISSING`` (ask the database)."""
        row = self._rows.get(("readers", HOLDER, id_number), MISSING)
        if isinstance(row, CachedRow) and (row.status != "active" or row.merged_into):
            return MISSING  # changed since: who holds it now is the database's answer
        return row

    def prefetch(self, wanted: dict[tuple[str, str], set[str]]) -> None:
        """Learn which of ``wanted`` (table, key) -> values do not exist (one query each);
        (readers, id_number): which ID numbers no live reader holds."""
        for (table, key), values in wanted.items():
            holders = (table, key) == ("readers", "id_number")
            if (table, key) not in UNIQUE_KEYS and not holders or not values:
                continue
            stmt = _LIVE_HOLDERS if holders else _PREFETCH[(table, key)]
            todo = sorted(values)
            found: set[str] = set()
            for start in range(0, len(todo), _CHUNK):
                found.update(str(v) for v in self.conn.execute(
                    stmt, {"values": todo[start:start + _CHUNK]}).scalars())
            for value in todo:
                if value not in found:
                    self._rows[(table, HOLDER if holders else key, value)] = ABSENT

    # ---- this batch's writes (statements)
    def insert_later(self, table: Any, values: dict[str, Any]) -> bool:
        """Keep the insert of ``values`` for ``flush``; False: the caller runs it now."""
        if not self.defer or table.name not in LOOKUP_KEYS:
            return False
        row = self._file(table, values, waiting=True)
        if row is None:
            return False
        self.pending.setdefault(table.name, []).append(row)
        return True

    def inserted(self, table: Any, values: dict[str, Any]) -> None:
        """``values`` were inserted into ``table`` by ``statements``."""
        self._file(table, values, waiting=False)

    def _file(self, table: Any, values: dict[str, Any], *, waiting: bool) -> CachedRow | None:
        keys = LOOKUP_KEYS.get(table.name)
        if not keys:
            return None
        full: dict[str, Any] = {}
        for name, fill in _fills(table):
            if name in values:
                full[name] = values[name]
            elif fill is not _UNKNOWN:
                full[name] = fill
            else:  # a value only the database knows: ask it next time
                self.drop(table.name, values)
                return None
        row = CachedRow(full, waiting)
        for key in keys:
            self._rows[(table.name, key, str(full[key]))] = row
        if table.name == "readers":
            if full["status"] == "active" and not full["merged_into"]:
                self._rows[("readers", HOLDER, str(full["id_number"]))] = row
            # no card names a reader that did not exist until now (cards are issued to
            # readers that exist): the new reader has no card
            self._rows.setdefault(("cards", "reader_id", str(full["reader_id"])), ABSENT)
        return row

    def update_waiting(self, table: Any, key: str, value: str, values: dict[str, Any]) -> bool:
        """Change a row whose insert is still waiting; False if there is none (run the UPDATE)."""
        row = self._rows.get((table.name, key, value))
        if (not isinstance(row, CachedRow) or not row._waiting or "id_number" in values
                or any(k in values for k in LOOKUP_KEYS.get(table.name, ()))):
            return False
        row._values.update(values)
        return True

    def flush(self, tables: Iterable[str] | None = None) -> None:
        """Write the waiting inserts (of ``tables``, or all): one executemany per table."""
        names = [n for n in _ORDER if n in self.pending and (tables is None or n in tables)]
        for name in names:
            rows = self.pending.pop(name)
            for row in rows:
                object.__setattr__(row, "_waiting", False)
            with self.own_statement():
                bulk.insert_many(self.conn, m.metadata.tables[name], [row._values for row in rows])

    def updated(self, table: Any, key: str, value: str, values: dict[str, Any]) -> None:
        keys = LOOKUP_KEYS.get(table.name)
        if not keys:
            return
        row = self._rows.get((table.name, key, value))
        if (not isinstance(row, CachedRow) or "id_number" in values
                or any(k in values for k in keys)):
            self.clear_table(table.name)  # a row read from the database, or a key changed
            return
        row._values.update(values)  # filed under every key: they all see the change

    def insert_seen(self, table: str, values: dict[str, Any]) -> None:
        """An insert not made through ``statements`` (it may have done nothing, on conflict):
        a key known absent is asked again (Recheck), any other entry of its keys dropped."""
        self._drop_holder(table, values)
        for key in LOOKUP_KEYS.get(table, ()):
            if key in values:
                entry = (table, key, str(values[key]))
                if entry in self._rows and self._rows[entry] is ABSENT:
                    self._rows[entry] = Recheck(dict(values))
                else:
                    self._rows.pop(entry, None)

    def drop(self, table: str, values: dict[str, Any]) -> None:
        self._drop_holder(table, values)
        for key in LOOKUP_KEYS.get(table, ()):
            if key in values:
                self._rows.pop((table, key, str(values[key])), None)

    def _drop_holder(self, table: str, values: dict[str, Any]) -> None:
        """A reader written with this ID number outside the cache: ask the database next."""
        if table == "readers" and "id_number" in values:
            self._rows.pop(("readers", HOLDER, str(values["id_number"])), None)

    def clear_table(self, table: str) -> None:
        for k in [k for k in self._rows if k[0] == table]:
            del self._rows[k]

    def clear(self) -> None:
        self._rows.clear()

    @contextlib.contextmanager
    def own_statement(self) -> Iterator[None]:
        """A statement of ``statements`` (which updates the cache itself): not watched."""
        self.own = True
        try:
            yield
        finally:
            self.own = False


_UNKNOWN = object()
_FILLS: dict[str, tuple[tuple[str, Any], ...]] = {}


def _fills(table: Any) -> tuple[tuple[str, Any], ...]:
    """Each column of ``table`` and the value a row that does not name it gets (its scalar
    default, None when nullable without one), or ``_UNKNOWN`` (the database decides)."""
    found = _FILLS.get(table.name)
    if found is None:
        out = []
        for col in table.columns:
            if col.default is not None and col.default.is_scalar:
                out.append((col.name, col.default.arg))
            elif col.nullable and col.default is None and col.server_default is None:
                out.append((col.name, None))
            else:
                out.append((col.name, _UNKNOWN))
        found = _FILLS[table.name] = tuple(out)
    return found


def current(conn: Connection) -> RowCache | None:
    """The running batch's cache when it is this connection's, else None."""
    cache = _current.get()
    return cache if cache is not None and cache.conn is conn else None


@contextlib.contextmanager
def active(conn: Connection) -> Iterator[RowCache]:
    """A cache for one batch on ``conn`` (watching every statement it runs), then none."""
    engine = conn.engine
    if engine not in _watched:
        event.listen(engine, "before_execute", _before_execute)
        _watched.add(engine)
    cache = RowCache(conn)
    token = _current.set(cache)
    try:
        yield cache
    finally:
        _current.reset(token)


def _before_execute(conn: Connection, clauseelement: Any, multiparams: Any, params: Any,
                    execution_options: Any) -> None:
    cache = current(conn)
    if cache is None or cache.own:
        return
    if cache.pending:
        if isinstance(clauseelement, str):
            cache.flush()
        else:
            named = _tables_of(clauseelement)
            if not named.isdisjoint(cache.pending):
                cache.flush(named)
    if isinstance(clauseelement, str):
        sql = clauseelement.lstrip().upper()
        if not sql.startswith(("SAVEPOINT", "RELEASE", "SELECT")):
            cache.clear()  # ROLLBACK TO SAVEPOINT, or SQL we do not parse
        return
    if isinstance(clauseelement, UpdateBase):
        table = getattr(clauseelement, "table", None)
        name = getattr(table, "name", None)
        if name not in LOOKUP_KEYS:
            return
        conflict = getattr(clauseelement, "_post_values_clause", None)
        if isinstance(clauseelement, Insert) and (
                conflict is None or isinstance(conflict, _DO_NOTHING)):
            rows = _param_rows(multiparams, params)
            if rows is None:
                cache.clear_table(name)
            for each in rows or ():
                cache.insert_seen(name, each)
        else:
            cache.clear_table(name)


def _tables_of(stmt: Any) -> frozenset[str]:
    known = _TABLES_OF.get(id(stmt))
    if known is not None and known[0] is stmt:
        return known[1]
    names = frozenset(t.name for t in find_tables(stmt, include_crud=True, include_joins=True)
                      if hasattr(t, "name"))
    if len(_TABLES_OF) > 2000:  # statements built per call: do not keep them all
        _TABLES_OF.clear()
    _TABLES_OF[id(stmt)] = (stmt, names)
    return names


def _param_rows(multiparams: Any, params: Any) -> list[dict[str, Any]] | None:
    """The rows of an insert's parameters, or None when they are not plain dicts."""
    rows: list[Any] = []
    for item in [*(multiparams or ()), *([params] if params else [])]:
        rows.extend(item if isinstance(item, list | tuple) else [item])
    if not rows or not all(isinstance(r, dict) for r in rows):
        return None
    return rows

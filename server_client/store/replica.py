"""The replica: pulled pages of server changes stored in the kiosk's entity tables.

A page is applied so that one row can never stop the others or hold the cursor back:

1. Card blocks (a card pulled as ``lost`` or ``cancelled``) go first, in their own transaction,
   so a lost card is refused at once even if something else in the page is wrong.
2. Everything else, in one transaction with the cursor: each row is checked against its entity
   model (``library_core.contract``); a row the contract refuses, or the store refuses (a
   generation 0 card, a staff card number already used by other staff), or whose parent row is
   missing, is set aside in ``pull_quarantine`` with its reason, and the rest is stored.

Rows set aside for a missing parent are tried again with each later page (the parent may come
later); a later good version of a row takes it out of quarantine. Quarantined rows are shown in
staff diagnostics and reported to the server on the next push (``SyncEngine``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from library_core.contract import (
    ENTITY_KEYS,
    ContractError,
    entity_columns,
    entity_refusals,
    validate_entity,
)
from server_client.store.connection import StoreCore, Tx, sql_value
from server_client.store.outbox import CURSOR_KEY

log = logging.getLogger(__name__)

_TABLES = {"reader": "readers", "card": "cards", "item": "items", "loan": "loans",
           "fee": "fees", "staff": "staff"}
# pulled entity -> (table, key column, columns taken from the change's data): the columns are
# the fields of the entity models in library_core.contract
ENTITY_TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    entity: (table, ENTITY_KEYS[entity], entity_columns(entity))
    for entity, table in _TABLES.items()
}
_COLUMN_SETS = {entity: frozenset(cols) for entity, (_t, _k, cols) in ENTITY_TABLES.items()}
BLOCKED_CARD_STATUSES = frozenset({"lost", "cancelled"})
MISSING_PARENT = "missing parent: "


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """A pulled row set aside: its change seq, entity, key, why, and when."""

    seq: int
    entity: str
    entity_id: str
    reason: str
    quarantined_at: str
    reported: bool

    def report(self) -> dict[str, Any]:
        """As the push body carries it (``library_core.contract.QuarantinedRow``): texts made
        printable and cut to the contract's lengths, so a report never makes a push invalid."""
        return {"seq": max(0, self.seq), "entity": _printable(self.entity, 16),
                "entity_id": _printable(self.entity_id, 64),
                "reason": _printable(self.reason, 300), "quarantined_at": self.quarantined_at}


def _printable(value: str, limit: int) -> str:
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in value)[:limit]
    return cleaned or "?"


def _pulled_value(entity: str, column: str, value: Any) -> Any:
    """A pulled column as the kiosk stores it: card UIDs in the kiosk's lower-case hex (the
    server keeps them upper-case), so a card synced back still matches the one on the reader."""
    if entity == "card" and column == "uid" and isinstance(value, str):
        return value.lower()
    return sql_value(value)


@functools.lru_cache(maxsize=256)
def _upsert_sql(entity: str, present: tuple[str, ...]) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE`` of ``present`` columns: local bookkeeping columns
    (PIN failures, lock times, blocked_at) are kept."""
    table, key, _cols = ENTITY_TABLES[entity]
    updates = ", ".join(f"{c} = excluded.{c}" for c in present if c != key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (f"INSERT INTO {table} ({', '.join(present)}) VALUES"
            f" ({', '.join('?' for _ in present)}) ON CONFLICT({key}) {action}")


def _is_block(change: dict[str, Any]) -> bool:
    data = change.get("data")
    return (change.get("entity") == "card" and isinstance(data, dict)
            and data.get("status") in BLOCKED_CARD_STATUSES)


def _key(change: dict[str, Any]) -> tuple[str, str]:
    entity = str(change.get("entity"))
    data = change.get("data")
    spec = ENTITY_TABLES.get(entity)
    if spec is not None and isinstance(data, dict) and spec[1] in data:
        return entity, str(data[spec[1]])
    return entity, str(change.get("id", ""))


def _refusals(rows: list[dict[str, Any]]) -> dict[int, str]:
    """The rows (by position) the contract refuses, with its reason: each entity's rows are
    checked at once."""
    by_entity: dict[str, list[int]] = {}
    for i, change in enumerate(rows):
        by_entity.setdefault(str(change.get("entity")), []).append(i)
    refused: dict[int, str] = {}
    for entity, positions in by_entity.items():
        bad = entity_refusals(entity, [rows[i].get("data") for i in positions])
        for pos, reason in bad.items():
            refused[positions[pos]] = reason
    return refused


def _values(entity: str, cols: tuple[str, ...], datas: list[dict[str, Any]]) -> list[Any]:
    """The SQL parameters of rows the contract took: their values are JSON's (a bool binds
    as 0/1), only card UIDs change (``_pulled_value``)."""
    if entity == "card" or len(cols) == 1:
        return [[_pulled_value(entity, c, data[c]) for c in cols] for data in datas]
    return list(map(itemgetter(*cols), datas))


class ReplicaStore(StoreCore):
    """The replica part of ``Store``."""

    _foreign_keys: dict[str, list[tuple[str, str, str]]] | None = None

    def apply_pulled_page(self, changes: list[dict[str, Any]], next_cursor: int, *,
                          at: dt.datetime | None = None) -> None:
        """Store one pulled page and move the cursor; rows that cannot be stored are set aside,
        stamped ``at`` (the sync engine's clock; UTC now when not given).

        Card blocks are committed first, on their own. Raises StoreError only when the store
        itself fails (disk, lock): then nothing of the main part is stored and the cursor stays.
        """
        now = (at or dt.datetime.now(dt.UTC)).isoformat()
        blocks: list[dict[str, Any]] = []
        rest: list[dict[str, Any]] = []
        for change in changes:
            (blocks if _is_block(change) else rest).append(change)
        waiting: list[dict[str, Any]] = []
        if blocks:
            with self.transaction() as tx:
                waiting = self._store_blocks(tx, blocks, now)
        with self.transaction() as tx:
            tx.execute("PRAGMA defer_foreign_keys = ON")
            retry = self._retryable(tx, changes)
            self._store_rows(tx, retry + waiting + rest, now)
            tx.execute("INSERT INTO kv (key, value) VALUES (?, ?)"
                       " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       (CURSOR_KEY, str(int(next_cursor))))

    # -- the two passes --------------------------------------------------------------------
    def _store_blocks(self, tx: Tx, blocks: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
        """Store each card block on its own (foreign keys checked at once); returns the blocks
        whose reader is not stored yet: they go with the rest of the page."""
        waiting: list[dict[str, Any]] = []
        for change in blocks:
            try:
                validate_entity("card", change.get("data"))
            except ContractError as err:
                self._quarantine(tx, change, err.reason, now)
                continue
            tx.execute("SAVEPOINT pulled_block")
            try:
                self._upsert(tx, change)
            except sqlite3.IntegrityError as err:
                tx.execute("ROLLBACK TO pulled_block")
                if "FOREIGN KEY" in str(err):
                    waiting.append(change)
                else:
                    self._quarantine(tx, change, f"store refused: {err}", now)
                tx.execute("RELEASE pulled_block")
                continue
            tx.execute("RELEASE pulled_block")
            self._resolve(tx, [change])
        return waiting

    def _store_rows(self, tx: Tx, rows: list[dict[str, Any]], now: str) -> None:
        """Store every row the contract and the store take; set the others aside."""
        refused = _refusals(rows)
        for _ in range(len(rows) + 1):
            candidates = [i for i in range(len(rows)) if i not in refused]
            tx.execute("SAVEPOINT pulled_page")
            try:
                self._upsert_all(tx, [rows[i] for i in candidates])
                stored = candidates
            except sqlite3.IntegrityError:  # find the rows the store refuses, one by one
                tx.execute("ROLLBACK TO pulled_page")
                stored = []
                for i in candidates:
                    tx.execute("SAVEPOINT pulled_row")
                    try:
                        self._upsert(tx, rows[i])
                        stored.append(i)
                    except sqlite3.IntegrityError as err:
                        tx.execute("ROLLBACK TO pulled_row")
                        refused[i] = f"store refused: {err}"
                    tx.execute("RELEASE pulled_row")
            orphans = self._orphans(tx, [rows[i] for i in stored])
            if not orphans:
                tx.execute("RELEASE pulled_page")
                break
            # a row whose parent is neither stored nor in the page: set it aside, try again
            tx.execute("ROLLBACK TO pulled_page")
            tx.execute("RELEASE pulled_page")
            for pos, reason in orphans.items():
                refused[stored[pos]] = reason
        for i, reason in sorted(refused.items()):
            self._quarantine(tx, rows[i], reason, now)
        self._resolve(tx, [rows[i] for i in range(len(rows)) if i not in refused])

    # -- statements ------------------------------------------------------------------------
    def _upsert_all(self, tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
        """Upsert rows grouped by entity and columns, one ``executemany`` per group (a page
        holds each entity key once, so the order within it does not matter)."""
        groups: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
        for change in rows:
            entity = str(change.get("entity"))
            data: dict[str, Any] = change.get("data") or {}
            if entity == "fee_schedule":
                self._upsert(tx, change)
                continue
            cols = ENTITY_TABLES[entity][2]
            if not data.keys() >= _COLUMN_SETS[entity]:  # an optional column left out
                cols = tuple(c for c in cols if c in data)
            groups.setdefault((entity, cols), []).append(data)
        for (entity, cols), datas in groups.items():
            tx.executemany(_upsert_sql(entity, cols), _values(entity, cols, datas))

    def _upsert(self, tx: Tx, change: dict[str, Any]) -> None:
        entity = str(change.get("entity"))
        data: dict[str, Any] = change.get("data") or {}
        if entity == "fee_schedule":
            tx.execute("INSERT INTO fee_schedule (id, data) VALUES (?, ?)"
                       " ON CONFLICT(id) DO UPDATE SET data = excluded.data",
                       (str(change.get("id", "current")), json.dumps(data)))
            return
        present = tuple(c for c in ENTITY_TABLES[entity][2] if c in data)
        tx.execute(_upsert_sql(entity, present),
                   [_pulled_value(entity, c, data[c]) for c in present])

    def _fk_map(self, tx: Tx) -> dict[str, list[tuple[str, str, str]]]:
        """entity -> [(column, parent table, parent column)], read from the schema once."""
        if self._foreign_keys is None:
            fks: dict[str, list[tuple[str, str, str]]] = {}
            for entity, (table, _key_col, _cols) in ENTITY_TABLES.items():
                fks[entity] = [(str(r["from"]), str(r["table"]), str(r["to"]))
                               for r in tx.all(f"PRAGMA foreign_key_list({table})")]
            self._foreign_keys = fks
        return self._foreign_keys

    def _orphans(self, tx: Tx, stored: list[dict[str, Any]]) -> dict[int, str]:
        """Stored rows (by position) whose parent row is not in the store."""
        fks = self._fk_map(tx)
        children = [(pos, change, links) for pos, change in enumerate(stored)
                    if (links := fks.get(str(change.get("entity"))))]
        if not children:
            return {}
        parents = {(parent, parent_col) for _p, _c, links in children
                   for _col, parent, parent_col in links}
        parent_entities = {e for e, (table, key, _cols) in ENTITY_TABLES.items()
                           if (table, key) in parents}
        in_page = {(ENTITY_TABLES[e][0], ENTITY_TABLES[e][1], k)
                   for e, k in (_key(c) for c in stored if c.get("entity") in parent_entities)}
        out: dict[int, str] = {}
        for pos, change, links in children:
            data = change.get("data") or {}
            for column, parent, parent_col in links:
                value = data.get(column)
                if value is None or (parent, parent_col, str(value)) in in_page:
                    continue  # no parent, or the parent was just stored with this page
                if tx.one(f"SELECT 1 FROM {parent} WHERE {parent_col} = ?", (value,)) is None:
                    out[pos] = f"{MISSING_PARENT}{parent}.{parent_col} = {value}"
                    break
        return out

    # -- quarantine ------------------------------------------------------------------------
    def _quarantine(self, tx: Tx, change: dict[str, Any], reason: str, now: str) -> None:
        entity, entity_id = _key(change)
        log.warning("pulled %s %s set aside: %s", entity, entity_id, reason)
        seq = change.get("seq")
        tx.execute(
            "INSERT INTO pull_quarantine (entity, entity_id, seq, data, reason, quarantined_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity, entity_id) DO UPDATE SET"
            " seq = excluded.seq, data = excluded.data, quarantined_at = excluded.quarantined_at,"
            " reported_at = CASE WHEN reason = excluded.reason THEN reported_at END,"
            " reason = excluded.reason",
            (entity[:64], entity_id[:200], seq if isinstance(seq, int) else 0,
             json.dumps(change.get("data"), ensure_ascii=False, default=str),
             reason[:300], now))

    def _resolve(self, tx: Tx, stored: list[dict[str, Any]]) -> None:
        """Stored rows leave quarantine (a later good version, or a parent that came)."""
        if not stored or tx.one("SELECT 1 FROM pull_quarantine LIMIT 1") is None:
            return
        tx.executemany("DELETE FROM pull_quarantine WHERE entity = ? AND entity_id = ?",
                       [_key(c) for c in stored])

    def _retryable(self, tx: Tx, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows set aside for a missing parent, to try again (unless the page has a newer one)."""
        rows = tx.all("SELECT entity, entity_id, seq, data FROM pull_quarantine"
                      " WHERE reason LIKE ? ORDER BY seq", (f"{MISSING_PARENT}%",))
        if not rows:
            return []
        in_page = {_key(c) for c in page}
        return [{"seq": int(r["seq"]), "entity": str(r["entity"]), "id": str(r["entity_id"]),
                 "data": json.loads(r["data"])}
                for r in rows if (str(r["entity"]), str(r["entity_id"])) not in in_page]

    def quarantined_rows(self, limit: int = 100) -> list[QuarantinedRow]:
        """Pulled rows set aside, newest first (staff diagnostics)."""
        rows = self.read("SELECT seq, entity, entity_id, reason, quarantined_at, reported_at"
                         " FROM pull_quarantine ORDER BY quarantined_at DESC, seq DESC LIMIT ?",
                         (limit,))
        return [QuarantinedRow(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]),
                               r[5] is not None) for r in rows]

    def unreported_quarantine(self, limit: int = 500) -> list[dict[str, Any]]:
        """Quarantined rows the server has not been told about, as the push body carries them."""
        rows = self.read("SELECT seq, entity, entity_id, reason, quarantined_at"
                         " FROM pull_quarantine WHERE reported_at IS NULL ORDER BY seq LIMIT ?",
                         (limit,))
        return [QuarantinedRow(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]),
                               False).report() for r in rows]

    def mark_quarantine_reported(self, reports: list[dict[str, Any]], *, at: dt.datetime) -> None:
        """The server took these reports (each is matched by its change seq and entity)."""
        with self.transaction() as tx:
            tx.executemany(
                "UPDATE pull_quarantine SET reported_at = ? WHERE seq = ? AND entity = ?",
                [(at.isoformat(), r["seq"], r["entity"]) for r in reports])

    def quarantine_count(self) -> int:
        return self.count("pull_quarantine")

    def pulled_fee_schedule(self, on: dt.date | None = None) -> dict[str, Any] | None:
        """The pulled fee schedule: with ``on``, the latest published for a day up to ``on``
        (``from:<YYYY-MM-DD>``, record_server.fee_schedules), else the server's ``current``."""
        if on is not None:
            row = self.read_one("SELECT data FROM fee_schedule WHERE id LIKE 'from:%'"
                                " AND id <= ? ORDER BY id DESC LIMIT 1", (f"from:{on.isoformat()}",))
            if row is not None:
                return dict(json.loads(row[0]))
        row = self.read_one("SELECT data FROM fee_schedule WHERE id = 'current'")
        return None if row is None else dict(json.loads(row[0]))

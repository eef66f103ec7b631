"""``Store``: the kiosk's local SQLite store (stdlib sqlite3), used by services and the sync client.

The facade over the store's parts, one module per job:

- ``connection``: the connection, migrations, transactions (``Tx``, ``Tx.emit`` checks each
  event against the sync contract), plain reads, checks and the key-value table;
- ``outbox``: events waiting for the server, its answers, the pull cursor and last sync;
- ``replica``: pulled pages stored in the entity tables, rows set aside (quarantine);
- ``journal``: the receipt journal and print results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server_client.store.connection import FaultHook, InvalidEvent, StoreCore, Tx, sql_value
from server_client.store.journal import (
    JournalEntry,
    JournalStore,
    PrintResultLike,
    StoreReceiptJournal,
)
from server_client.store.outbox import CURSOR_KEY, LAST_SYNC_KEY, PUSH_STATUSES, OutboxStore
from server_client.store.replica import ENTITY_TABLES, QuarantinedRow, ReplicaStore

if TYPE_CHECKING:
    from server_client.store.repositories import StoreRepositories


class Store(OutboxStore, ReplicaStore, JournalStore):
    """The local store. Open with ``Store.open(path, kiosk_id=...)``; it migrates on open."""

    def repositories(self) -> StoreRepositories:
        """The use cases' repositories over this store (``kiosk.services.ports``)."""
        from server_client.store.repositories import StoreRepositories

        return StoreRepositories(self)


__all__ = [
    "CURSOR_KEY", "ENTITY_TABLES", "LAST_SYNC_KEY", "PUSH_STATUSES", "FaultHook", "InvalidEvent",
    "JournalEntry", "PrintResultLike", "QuarantinedRow", "Store", "StoreCore",
    "StoreReceiptJournal", "Tx", "sql_value",
]

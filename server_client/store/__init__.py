"""The kiosk's local SQLite store: schema, transactions, outbox, audit chain, receipt journal."""

from server_client.store.audit import ChainCheck
from server_client.store.db import (
    InvalidEvent,
    JournalEntry,
    QuarantinedRow,
    Store,
    StoreReceiptJournal,
    Tx,
)

__all__ = ["ChainCheck", "InvalidEvent", "JournalEntry", "QuarantinedRow", "Store",
           "StoreReceiptJournal", "Tx"]

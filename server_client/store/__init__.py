"""The kiosk's local SQLite store: schema, transactions, outbox, audit chain, receipt journal."""

from server_client.store.audit import ChainCheck
from server_client.store.db import JournalEntry, Store, StoreReceiptJournal, Tx

__all__ = ["ChainCheck", "JournalEntry", "Store", "StoreReceiptJournal", "Tx"]

"""The kiosk's side of the record keeping: local SQLite store, outbox and sync client."""

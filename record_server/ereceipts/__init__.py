"""E-receipts (issue 12.12): a kiosk's ``receipt.issued`` events are kept (``ingest``) and
shown to whoever holds the token, on a phone, at the public ``/r/{token}`` (``page``).

The token is made on the kiosk (128 random bits) and only its SHA-256 reaches the server;
see ``library_core.ereceipts`` and docs/security.md ("E-receipts").
"""

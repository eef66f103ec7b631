"""Kiosk-side sync: an HTTP client for the record server and a background sync loop.

Sync is push, then pull (pages until the server says there is no more). The store
(``SyncStore``) is the only state: events leave the outbox only after the server answered them,
and the pull cursor moves only after a page is stored, so a crash or kill at any moment loses
nothing and doubles nothing (the server answers ``duplicate`` for an event it already has).

HTTP: one ``requests.Session`` per client, explicit (connect, read) timeouts, retries by
urllib3's ``Retry`` mounted on the session (``SyncRetry``): only on connection errors, timeouts,
5xx and 429, every method (pushes are idempotent: the server answers ``duplicate`` for an event
id it has), exponential backoff with jitter, honouring ``Retry-After``; TLS verification on
unless configured off, optionally with a CA bundle.
"""


from server_client.sync.client import (
    MAX_RETRY_AFTER_S,
    RETRY_STATUSES,
    RecordServerClient,
    SyncAuthError,
    SyncHttpError,
    SyncOffline,
    SyncRetry,
    parse_retry_after,
)
from server_client.sync.engine import SyncEngine, SyncReport, SyncStore
from server_client.sync.loop import SyncLoop, SyncStatus

__all__ = [
    "MAX_RETRY_AFTER_S", "RETRY_STATUSES", "RecordServerClient", "SyncAuthError", "SyncEngine",
    "SyncHttpError", "SyncLoop", "SyncOffline", "SyncReport", "SyncRetry", "SyncStatus",
    "SyncStore", "parse_retry_after",
]

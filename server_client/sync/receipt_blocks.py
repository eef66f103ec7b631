"""Receipt numbers from blocks the record server reserved (docs/security.md 4.7).

A receipt's number is printed on paper the moment it is taken, long before the event that
carries it reaches the server, and many receipts never do (returns, visitor passes, the roster,
the Z-report). So a kiosk whose store is wiped cannot learn from pushed events alone which
numbers it printed. Instead, at every sync, the kiosk makes sure the server holds a reserved
ceiling at least ``LOW_WATER`` numbers above its counter for today and for tomorrow (so a night
and a day offline are covered); the server keeps the ceiling beside the numbers it has seen
used, and its position (``SyncEngine.resume``) answers the higher of the two. A kiosk resumed
from a wiped store therefore starts above every number it could have printed.

What it does not cover: a kiosk that prints more than ``LOW_WATER`` receipts in one day while
it cannot reach the server, and then loses its store before it syncs again: the numbers it
printed past the ceiling can be issued again after the resume.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Protocol, runtime_checkable

from library_core.errors import SyncError

log = logging.getLogger(__name__)

LOW_WATER = 50  # top up when fewer numbers than this are left below the ceiling
CEILING_KEY = "receipt_ceiling:"  # + day: the ceiling the server last answered


@runtime_checkable
class ReceiptStore(Protocol):
    """A kiosk store that numbers receipts (``server_client.store.Store``)."""

    def counter(self, name: str) -> int: ...
    def get_value(self, key: str) -> str | None: ...
    def set_value(self, key: str, value: str) -> None: ...


@runtime_checkable
class ReceiptClient(Protocol):
    """A record server client that reserves receipt numbers (``RecordServerClient``)."""

    def reserve_receipts(self, day: str, after: int) -> int: ...


def ceiling(store: ReceiptStore, day: dt.date) -> int:
    """The ceiling the server reserved for this kiosk's receipts of ``day`` (0: none known)."""
    value = store.get_value(f"{CEILING_KEY}{day.isoformat()}")
    return int(value) if value else 0


def top_up(store: ReceiptStore, client: ReceiptClient, today: dt.date) -> dict[str, int]:
    """Reserve more of today's and tomorrow's numbers where fewer than ``LOW_WATER`` are left;
    returns the ceilings the server answered (by day). Raises SyncError from the client."""
    answered: dict[str, int] = {}
    for day in (today, today + dt.timedelta(days=1)):
        used = store.counter(f"receipt:{day.isoformat()}")
        held = ceiling(store, day)
        if held - used >= LOW_WATER:
            continue
        new = client.reserve_receipts(day.isoformat(), used)
        if new > held:
            store.set_value(f"{CEILING_KEY}{day.isoformat()}", str(new))
        answered[day.isoformat()] = new
        if new - used < LOW_WATER:
            log.warning("receipt numbers of %s nearly used up: %d of %d", day, used, new)
    return answered


def top_up_quietly(store: object, client: object, today: dt.date) -> None:
    """``top_up`` after a sync, for a store and client that number receipts (test doubles of
    either need not); a server that cannot reserve is logged, the sync still counts."""
    if not (isinstance(store, ReceiptStore) and isinstance(client, ReceiptClient)):
        return
    try:
        top_up(store, client, today)
    except SyncError as err:
        log.warning("receipt numbers not reserved on the server: %s", err)

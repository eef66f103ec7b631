"""``SqliteIlsPins``: the wrong ILS PINs in a row of readers only the library's ILS knows
(table ``ils_pin_attempts``, store schema 11), keyed by the keyed hash of the ILS patron
number (``kiosk.services.ils_pins.patron_key``): the store never holds the clear number."""

from __future__ import annotations

import datetime as dt
from typing import Any

from library_core.rules import PinState


class SqliteIlsPins:
    """``kiosk.services.ports.IlsPinRepository`` over a ``Tx`` (or a read-only view)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def state(self, patron_key: str) -> PinState:
        r = self.db.one("SELECT failures, locked_until FROM ils_pin_attempts"
                        " WHERE patron_hash = ?", (patron_key,))
        if r is None:
            return PinState(0)
        until = r["locked_until"]
        return PinState(int(r["failures"]), dt.datetime.fromisoformat(until) if until else None)

    def set_state(self, patron_key: str, state: PinState) -> None:
        """Store the count; a clean state (a right PIN) leaves no row behind."""
        if state.failures == 0 and state.locked_until is None:
            self.db.execute("DELETE FROM ils_pin_attempts WHERE patron_hash = ?", (patron_key,))
            return
        self.db.execute(
            "INSERT INTO ils_pin_attempts (patron_hash, failures, locked_until) VALUES (?, ?, ?)"
            " ON CONFLICT (patron_hash) DO UPDATE SET failures = excluded.failures,"
            " locked_until = excluded.locked_until",
            (patron_key, state.failures,
             state.locked_until.isoformat() if state.locked_until else None))

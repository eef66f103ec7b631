"""PIN checks with lockout: 5 wrong PINs lock the reader or staff account for 30 minutes
(``library_core.rules.PinLockout``, the policy the record server applies too).

Failures and locks are stored (they survive a restart), reset on success, and audited.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kiosk.services.config import ServicesConfig
from kiosk.services.errors import PinLocked, PinWrong
from library_core.clock import Clock
from library_core.pins import verify_pin
from library_core.rules import PinLockout, PinState

if TYPE_CHECKING:
    from server_client.store import Store

_TABLES = {"readers": "reader_id", "staff": "staff_no"}


def check_pin(store: Store, clock: Clock, cfg: ServicesConfig, *, table: str, key: str,
              pin: str, actor: str) -> None:
    """Verify ``pin`` for the row ``key`` of ``table`` (``readers`` or ``staff``).

    Raises PinLocked (``minutes`` left) while locked or on the failure that locks, PinWrong
    (``attempts_left``) otherwise. The failure count is committed before raising.
    """
    key_col = _TABLES[table]
    now = clock.now()
    row = store.read_one(f"SELECT pin_hash, pin_failures, locked_until FROM {table}"
                         f" WHERE {key_col} = ?", (key,))
    if row is None:
        raise KeyError(key)
    policy = lockout_policy(cfg)
    if row["locked_until"]:
        until = dt.datetime.fromisoformat(row["locked_until"])
        if policy.locked(until, now):
            raise PinLocked(None, "locked", minutes=policy.minutes_left(until, now))
    ok = verify_pin(pin, row["pin_hash"])  # slow: outside the store lock
    state: PinState | None = None
    with store.transaction() as tx:
        current = tx.one(f"SELECT pin_failures FROM {table} WHERE {key_col} = ?", (key,))
        failures = int(current["pin_failures"]) if current is not None else 0
        if ok:
            tx.update(table, key_col, key, {"pin_failures": 0, "locked_until": None})
            tx.audit(at=now, actor=actor, action="pin.ok", subject=f"{table}:{key}")
            return
        state = policy.after_wrong(failures, now)
        tx.update(table, key_col, key, {"pin_failures": state.failures,
                                        "locked_until": state.locked_until})
        if state.locked_until is not None:
            tx.audit(at=now, actor=actor, action="pin.locked", subject=f"{table}:{key}",
                     detail={"until": state.locked_until.isoformat()})
        else:
            tx.audit(at=now, actor=actor, action="pin.failed", subject=f"{table}:{key}",
                     detail={"failures": state.failures})
    if state.locked_until is not None:
        raise PinLocked(None, "too many wrong PINs",
                        minutes=policy.minutes_left(state.locked_until, now))
    raise PinWrong(None, "wrong PIN", attempts_left=policy.attempts_left(state.failures))


def lockout_policy(cfg: ServicesConfig) -> PinLockout:
    """The one PIN-lockout policy (``library_core.rules.PinLockout``, see why there), with the
    kiosk's configured attempts and minutes (the defaults are the policy's)."""
    return PinLockout(max_attempts=cfg.pin_max_attempts, minutes=cfg.pin_lockout_minutes)

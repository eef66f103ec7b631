"""PIN checks with lockout: every 5th wrong PIN in a row locks the reader or staff account, for
1, 5, 15, 60 minutes, then doubling up to a day (``library_core.rules.PinLockout``, the policy
the record server applies too).

Failures and locks are stored (they survive a restart), reset on success, and audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.services.config import ServicesConfig
from kiosk.services.errors import PinLocked, PinWrong
from library_core.clock import Clock
from library_core.pins import verify_pin
from library_core.rules import PinLockout, PinState

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories

def check_pin(repos: Repositories, clock: Clock, cfg: ServicesConfig, *, table: str, key: str,
              pin: str, actor: str) -> None:
    """Verify ``pin`` for the reader (``table="readers"``) or staff member (``"staff"``) ``key``.

    Raises PinLocked (``minutes`` left) while locked or on the failure that locks, PinWrong
    (``attempts_left``) otherwise. The failure count is committed before raising.
    """
    now = clock.now()
    with repos.read() as view:
        record = view.pins.get(table, key)
    if record is None:
        raise KeyError(key)
    policy = lockout_policy(cfg)
    if record.locked_until is not None and policy.locked(record.locked_until, now):
        raise PinLocked(None, "locked", minutes=policy.minutes_left(record.locked_until, now))
    ok = verify_pin(pin, record.pin_hash)  # slow: outside the store lock
    state: PinState | None = None
    with repos.transaction() as uow:
        current = uow.pins.get(table, key)
        failures = current.failures if current is not None else 0
        if ok:
            uow.pins.set_state(table, key, 0, None)
            uow.audit.append(at=now, actor=actor, action="pin.ok", subject=f"{table}:{key}")
            return
        state = policy.after_wrong(failures, now)
        uow.pins.set_state(table, key, state.failures, state.locked_until)
        if state.locked_until is not None:
            uow.audit.append(at=now, actor=actor, action="pin.locked", subject=f"{table}:{key}",
                             detail={"until": state.locked_until.isoformat()})
        else:
            uow.audit.append(at=now, actor=actor, action="pin.failed", subject=f"{table}:{key}",
                             detail={"failures": state.failures})
    if state.locked_until is not None:
        raise PinLocked(None, "too many wrong PINs",
                        minutes=policy.minutes_left(state.locked_until, now))
    raise PinWrong(None, "wrong PIN", attempts_left=policy.attempts_left(state.failures))


def lockout_policy(cfg: ServicesConfig) -> PinLockout:
    """The one PIN-lockout policy (``library_core.rules.PinLockout``, see why there), with the
    kiosk's configured attempts and lock times (the defaults are the policy's)."""
    return PinLockout(max_attempts=cfg.pin_max_attempts, steps_s=cfg.pin_lockout_steps_s)

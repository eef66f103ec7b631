"""The PIN-lockout policy at the kiosk: every 5th wrong PIN in a row locks, for 1, 5, 15, 60
minutes, then doubling up to a day (``library_core.rules.PinLockout``, the policy the record
server applies too). Our readers' PINs (and online staff log-ins) are checked by the server;
the kiosk counts in its store the PINs it sees checked elsewhere than at the server: offline
staff log-ins (``staff_auth.OfflineStaffLogin``) and the ILS PINs of readers only the library's
ILS knows (``ils_account.IlsAccountService``). Both go through ``refuse_if_locked`` and
``wrong_pin`` here: one rule, one place.
"""

from __future__ import annotations

import datetime as dt

from kiosk.services.config import ServicesConfig
from kiosk.services.errors import PinLocked, PinWrong
from library_core.rules import PinLockout, PinState


def lockout_policy(cfg: ServicesConfig) -> PinLockout:
    """The one PIN-lockout policy (``library_core.rules.PinLockout``, see why there), with the
    kiosk's configured attempts and lock times (the defaults are the policy's)."""
    return PinLockout(max_attempts=cfg.pin_max_attempts, steps_s=cfg.pin_lockout_steps_s)


def refuse_if_locked(policy: PinLockout, locked_until: dt.datetime | None,
                     now: dt.datetime) -> None:
    """Raises PinLocked (``minutes`` left) while a lock holds: nothing is checked or counted."""
    if locked_until is not None and policy.locked(locked_until, now):
        raise PinLocked(None, "locked", minutes=policy.minutes_left(locked_until, now))


def wrong_pin(policy: PinLockout, failures: int, now: dt.datetime, *,
              wrong: type[PinWrong] = PinWrong) -> tuple[PinState, PinWrong | PinLocked]:
    """One more wrong PIN after ``failures``: the state to store (commit it) and the error to
    raise once it is stored: PinLocked when this one locks, else ``wrong`` (a PinWrong, with
    ``attempts_left``)."""
    state = policy.after_wrong(failures, now)
    if state.locked_until is not None:
        return state, PinLocked(None, "too many wrong PINs",
                                minutes=policy.minutes_left(state.locked_until, now))
    return state, wrong(None, "wrong PIN", attempts_left=policy.attempts_left(state.failures))

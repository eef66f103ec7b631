"""The PIN-lockout policy at the kiosk: every 5th wrong PIN in a row locks, for 1, 5, 15, 60
minutes, then doubling up to a day (``library_core.rules.PinLockout``, the policy the record
server applies too). Reader and staff PINs are checked by the server; the kiosk applies it only
to offline staff log-ins (``staff_auth.OfflineStaffLogin``), counted in its store.
"""

from __future__ import annotations

from kiosk.services.config import ServicesConfig
from library_core.rules import PinLockout


def lockout_policy(cfg: ServicesConfig) -> PinLockout:
    """The one PIN-lockout policy (``library_core.rules.PinLockout``, see why there), with the
    kiosk's configured attempts and lock times (the defaults are the policy's)."""
    return PinLockout(max_attempts=cfg.pin_max_attempts, steps_s=cfg.pin_lockout_steps_s)

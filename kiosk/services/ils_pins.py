"""The ILS PIN of a reader only the library's ILS knows: the ILS checks it (63's AD, 64's CQ);
the kiosk counts the wrong ones in a row by its one lockout rule (``kiosk.services.pinlock``,
as for offline staff log-ins), so a guesser at a kiosk is stopped here whatever the ILS's own
lockout is (or whether it has one). While locked, nothing is sent to the ILS and so nothing
can be paid or posted. The count is keyed by ``patron_key``, a keyed hash of the ILS patron
number: the store never holds the clear number. Each kiosk counts its own attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING

from kiosk.services.circulation import Circulation, PatronAccount
from kiosk.services.config import ServicesConfig
from kiosk.services.errors import PinWrong
from kiosk.services.pinlock import lockout_policy, refuse_if_locked, wrong_pin
from library_core.clock import Clock
from library_core.errors import ValidationError
from library_core.rules import PinState

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories

log = logging.getLogger(__name__)

_CONTEXT = b"library ils patron number v1\x00"  # apart from the ID-number hash's input


class IlsPinWrong(PinWrong):
    """The ILS refused the number and PIN; ``params['attempts_left']`` before the kiosk locks."""

    message_id = "ils.patron_pin_wrong"


def patron_key(patron: str, library_key: bytes) -> str:
    """The keyed hash (HMAC-SHA256, library key) of an ILS patron number, 64 hex digits.
    Raises ValueError for an empty key."""
    if not library_key:
        raise ValueError("no library key")
    return hmac.new(library_key, _CONTEXT + patron.encode("utf-8"), hashlib.sha256).hexdigest()


class IlsPinCheck:
    """The ILS account of a patron who gives their ILS number and PIN, with the kiosk's count.
    Raises PinLocked (locked: nothing sent), IlsPinWrong / PinLocked (counted, committed),
    ValidationError ``ils.patron_unknown``, SyncError (the ILS cannot answer: nothing counted)."""

    def __init__(self, repos: Repositories, clock: Clock, config: ServicesConfig) -> None:
        self.repos = repos
        self.clock = clock
        self.cfg = config

    def account(self, ils: Circulation, patron: str, password: str) -> PatronAccount:
        key = patron_key(patron, self.cfg.library_key)
        policy = lockout_policy(self.cfg)
        now = self.clock.now()
        with self.repos.read() as view:
            before = view.ils_pins.state(key)
        refuse_if_locked(policy, before.locked_until, now)
        account = ils.account(patron, password=password)
        if not account.valid:
            raise ValidationError("ils.patron_unknown", "the ILS does not know the patron")
        if account.password_ok is True:
            if before.failures or before.locked_until is not None:
                with self.repos.transaction() as uow:
                    uow.ils_pins.set_state(key, PinState(0))
            return account
        with self.repos.transaction() as uow:
            state, refusal = wrong_pin(policy, uow.ils_pins.state(key).failures, now,
                                       wrong=IlsPinWrong)
            uow.ils_pins.set_state(key, state)
            uow.audit.append(at=now, actor="self-service", action="pin.failed",
                             subject=f"ils:{key[:16]}", detail={"checked_by": "ils"})
        log.info("wrong ILS PIN for patron %s… (%s in a row)", key[:8], state.failures)
        raise refusal

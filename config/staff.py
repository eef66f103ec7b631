"""``[staff.offline]``: what staff may do while the record server is out of reach
(docs/security.md 5.3). The server re-checks every offline staff action with its own copy of
the policy; a kiosk's may only be stricter (the stricter of the two applies at the kiosk once
the server has answered a log-in). Waivers, refunds and cancellations are never allowed
offline, whatever this says (``library_core.staff_rules``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import ConfigDict, Field, StrictBool, StrictInt, with_config

from library_core.staff_rules import OfflineStaffPolicy

_DEFAULT = OfflineStaffPolicy()


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class StaffOfflineSection:
    enabled: StrictBool = _DEFAULT.enabled
    cash_limit_fen: Annotated[StrictInt, Field(ge=0, le=10**8)] = _DEFAULT.cash_limit_fen
    day_cash_limit_fen: Annotated[StrictInt, Field(ge=0, le=10**9)] = _DEFAULT.day_cash_limit_fen
    allow_close_day: StrictBool = _DEFAULT.allow_close_day

    def policy(self) -> OfflineStaffPolicy:
        return OfflineStaffPolicy(enabled=self.enabled, cash_limit_fen=self.cash_limit_fen,
                                  day_cash_limit_fen=self.day_cash_limit_fen,
                                  allow_close_day=self.allow_close_day)


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class StaffSection:
    offline: StaffOfflineSection = field(default_factory=StaffOfflineSection)

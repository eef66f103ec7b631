"""The staff proof of an outbox event, made when the event is emitted (docs/security.md 5.2):
inside the use case's transaction, over ``library_core.contract.canonical_event_bytes``; an
offline one only after the offline staff policy allows the action (``library_core.staff_rules``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from library_core.clock import CHINA_TZ
from library_core.contract import canonical_event_bytes
from library_core.staff_rules import (
    OFFLINE_MONEY_KINDS,
    OfflineStaffRefused,
    StaffSessionEnded,
    offline_amount,
    offline_refusal,
)

if TYPE_CHECKING:
    from server_client.store.connection import Tx


def _local_day(when: str) -> dt.date:
    return dt.datetime.fromisoformat(when).astimezone(CHINA_TZ).date()


def offline_total_of_day(tx: Tx, day: dt.date) -> int:
    """What offline staff actions moved on ``day`` (the library's local day) at this kiosk."""
    kinds = sorted(OFFLINE_MONEY_KINDS)
    rows = tx.all("SELECT kind, occurred_at, payload FROM outbox"
                  " WHERE json_extract(staff_proof, '$.kind') = 'offline'"
                  f" AND kind IN ({', '.join('?' for _ in kinds)})", kinds)
    return sum(offline_amount(r["kind"], json.loads(r["payload"])) for r in rows
               if _local_day(r["occurred_at"]) == day)


def prove(tx: Tx, prover: Any, envelope: dict[str, Any]) -> str:
    """The JSON of the event's ``staff_proof``. Raises OfflineStaffRefused (offline action
    over the limit, or one never allowed offline), StaffSessionEnded (after the session's end):
    the use case's transaction rolls back."""
    until = getattr(prover, "valid_until", None)
    if until is not None and dt.datetime.fromisoformat(envelope["occurred_at"]) > until:
        raise StaffSessionEnded(None, f"staff session ended at {until.isoformat()}")
    policy = prover.offline_policy
    if policy is not None:
        day = _local_day(envelope["occurred_at"])
        reason = offline_refusal(policy, envelope["kind"], envelope["payload"],
                                 day_total_fen=offline_total_of_day(tx, day))
        if reason is not None:
            raise OfflineStaffRefused(reason, policy)
    proof: dict[str, str] = prover.proof(canonical_event_bytes(envelope))
    return json.dumps(proof, sort_keys=True)

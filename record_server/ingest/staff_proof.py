"""The server's check of an event's staff proof, before its handler acts on the staff number
(docs/security.md 5.2, 5.4; ``context.staff_or_reject`` calls it).

Online proofs are checked against the kiosk staff session (``kiosk_staff_sessions``), offline
ones against the verifier issued to that kiosk (``offline_verifiers``) and the server's own
offline policy; an offline action applies as a conflict ``offline_staff_action`` for a
supervisor's review. The policy of the running server (``require_staff_proof``, the offline
policy) is set per push request by the API (``proof_policy``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select

from library_core import contract as c
from library_core import staff_rules as r
from record_server import staff_tables as st

if TYPE_CHECKING:
    from record_server.ingest.context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProofPolicy:
    require: bool = True
    offline: r.OfflineStaffPolicy = field(default_factory=r.OfflineStaffPolicy)


_POLICY: ContextVar[ProofPolicy | None] = ContextVar("staff_proof_policy", default=None)


@contextmanager
def proof_policy(policy: ProofPolicy) -> Iterator[None]:
    """The policy of the pushes made inside (the push route sets it from the server config)."""
    token = _POLICY.set(policy)
    try:
        yield
    finally:
        _POLICY.reset(token)


_SESSION = select(st.kiosk_staff_sessions).where(
    st.kiosk_staff_sessions.c.session_id == bindparam("id"))
_VERIFIER = select(st.offline_verifiers).where(
    st.offline_verifiers.c.verifier_id == bindparam("id"))
_OFFLINE_TODAY = select(func.coalesce(func.sum(st.offline_staff_actions.c.amount), 0)).where(
    st.offline_staff_actions.c.kiosk_id == bindparam("kiosk_id"),
    st.offline_staff_actions.c.day == bindparam("day"))


def _message(ctx: Context, env: Any) -> bytes:
    return c.canonical_event_bytes({"event_id": env.event_id, "kiosk_id": ctx.kiosk_id,
                                    "kind": env.kind, "occurred_at": env.occurred_at,
                                    "payload": env.payload})


def _key_refusal(ctx: Context, row: Any, staff_no: str, start: str, end: str, key: str,
                 mac: str, message: bytes) -> str | None:
    if row is None:
        return r.SESSION_UNKNOWN
    if row.kiosk_id != ctx.kiosk_id:
        return r.SESSION_OTHER_KIOSK
    if row.staff_no != staff_no:
        return r.PROOF_OTHER_STAFF
    if not r.within(ctx.occurred_at, dt.datetime.fromisoformat(start),
                    dt.datetime.fromisoformat(end)):
        return r.SESSION_EXPIRED
    if not c.mac_matches(bytes.fromhex(key), message, mac):
        return r.PROOF_INVALID
    return None


def proof_refusal(ctx: Context, staff_no: str) -> str | None:
    """Why the event's staff proof does not show that ``staff_no`` authorised it, or None.

    Reasons: ``staff_proof_missing``, ``staff_session_unknown``, ``staff_session_other_kiosk``,
    ``staff_proof_other_staff``, ``staff_session_expired``, ``staff_proof_invalid``,
    ``offline_not_allowed``, ``offline_limit_exceeded``. An event with no proof on a server
    that does not require them applies, recorded as a conflict ``staff_proof_missing``."""
    env = ctx.envelope
    policy = _POLICY.get() or ProofPolicy()
    proof = getattr(env, "staff_proof", None)
    if env is None or proof is None:
        if policy.require or env is None:
            return r.PROOF_MISSING
        ctx.conflict(r.UNPROVEN_RULE, "staff", staff_no, "applied without a staff proof",
                     kind=env.kind)
        return None
    message = _message(ctx, env)
    if proof.kind == "online":
        row = ctx.conn.execute(_SESSION, {"id": proof.session_id}).first()
        return _key_refusal(ctx, row, staff_no, row.started_at if row else "",
                            row.expires_at if row else "", row.session_key if row else "",
                            proof.mac, message)
    row = ctx.conn.execute(_VERIFIER, {"id": proof.verifier_id}).first()
    reason = _key_refusal(ctx, row, staff_no, row.valid_from if row else "",
                          row.valid_until if row else "", row.mac_key if row else "",
                          proof.mac, message)
    if reason is not None:
        return reason
    day = ctx.day.isoformat()
    total = int(ctx.conn.execute(_OFFLINE_TODAY, {"kiosk_id": ctx.kiosk_id, "day": day})
                .scalar() or 0)
    reason = r.offline_refusal(policy.offline, env.kind, env.payload, day_total_fen=total)
    if reason is not None:
        return reason
    amount = r.offline_amount(env.kind, env.payload)
    ctx.conn.execute(st.offline_staff_actions.insert().values(
        event_id=ctx.event_id, kiosk_id=ctx.kiosk_id, day=day, staff_no=staff_no,
        verifier_id=proof.verifier_id, kind=env.kind, amount=amount))
    ctx.conflict(r.OFFLINE_REVIEW_RULE, "staff", staff_no,
                 "applied; offline staff action for a supervisor's review",
                 staff_no=staff_no, kiosk_id=ctx.kiosk_id, kind=env.kind, amount=amount)
    return None

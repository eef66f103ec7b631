"""Staff log-in through the record server, and offline with the verifier it issued
(docs/security.md 5.1, 5.4); the prover that signs each staff event with the session's key.

Online: the server checks the PIN (``StaffAuthority``) and returns a session key and an
offline verifier ``V``; the kiosk stores ``V`` and keeps the session key and its offline key
``K_k`` in memory only. Offline: ``V`` is recomputed from the PIN typed and ``K_k`` and
compared; a right PIN derives the offline MAC key ``M``. A kiosk restarted while offline has
no ``K_k``, so no offline staff log-in until someone logs in online.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiosk.services.config import ServicesConfig
from kiosk.services.pinlock import lockout_policy, refuse_if_locked, wrong_pin
from kiosk.services.ports import OfflineGrant, StaffGrant, StoredVerifier
from library_core import contract as c
from library_core.clock import Clock
from library_core.errors import DomainError, SyncError
from library_core.staff_rules import OfflineStaffPolicy

if TYPE_CHECKING:
    from kiosk.services.ports import Repositories, StaffMember

log = logging.getLogger(__name__)


class StaffLoginRefused(DomainError):
    """The record server refused the log-in: wrong staff number or PIN, or the account cannot
    log in now (one answer for all, as the server gives it)."""

    message_id = "staff.login_refused"


class StaffPinMustChange(DomainError):
    """The PIN was right but must change first: this member logged in at a kiosk that has since
    been revoked (the server's ``pin_must_change``). A supervisor resets it; no offline try."""

    message_id = "staff.pin_must_change"


class StaffOfflineUnavailable(DomainError):
    """The record server is out of reach and this kiosk holds no offline verifier for the
    member (or no offline key since it started): staff log-in needs the network."""

    message_id = "staff.offline_unavailable"


@dataclass(frozen=True)
class StaffProver:
    """``kiosk.services.ports.EventProver``: ``staff_proof`` with the session's MAC key."""

    kind: str  # online | offline
    proof_id: str  # session_id | verifier_id
    key: bytes = field(repr=False)
    offline_policy: OfflineStaffPolicy | None = None
    valid_until: dt.datetime | None = None  # the session's (verifier's) end: signs nothing later

    def proof(self, message: bytes) -> dict[str, str]:
        id_field = "session_id" if self.kind == "online" else "verifier_id"
        return {"kind": self.kind, id_field: self.proof_id, "mac": c.event_mac(self.key, message)}


class ServerStaffAuthority:
    """``StaffAuthority`` over the record server client's ``open_staff_session`` (401 and 429
    are a refused log-in; any other failure is a SyncError, and the kiosk tries offline)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def open_staff_session(self, identifier: str, pin: str) -> StaffGrant:
        try:
            body = self.client.open_staff_session(identifier, pin)
        except SyncError as err:
            if getattr(err, "status", None) in (401, 429):
                raise StaffLoginRefused(None, "refused by the record server") from err
            if getattr(err, "status", None) == 403 and "pin_must_change" in str(err):
                raise StaffPinMustChange(None, "the PIN must change first") from err
            raise
        try:
            off = body.get("offline")
            return StaffGrant(
                session_id=str(body["session_id"]), session_key=bytes.fromhex(body["session_key"]),
                staff_no=str(body["staff_no"]), name=str(body.get("name") or ""),
                role=str(body["role"]), started_at=dt.datetime.fromisoformat(body["started_at"]),
                expires_at=dt.datetime.fromisoformat(body["expires_at"]),
                offline=None if not off else OfflineGrant(
                    str(off["verifier_id"]), bytes.fromhex(off["verifier"]),
                    str(off["valid_until"]), bytes.fromhex(off["offline_key"]),
                    OfflineStaffPolicy(cash_limit_fen=int(off["cash_limit_fen"]),
                                       day_cash_limit_fen=int(off["day_cash_limit_fen"]),
                                       allow_close_day=bool(off["allow_close_day"]))))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise SyncError(detail="staff session answer is malformed") from err


class OfflineStaffLogin:
    """The offline half: store the verifier of an online log-in, check a PIN against it."""

    def __init__(self, repos: Repositories, clock: Clock, config: ServicesConfig) -> None:
        self.repos = repos
        self.clock = clock
        self.cfg = config
        self._offline_key: bytes | None = None  # K_k: memory only, never the store
        self._server_policy: OfflineStaffPolicy | None = None  # from the last online log-in

    def remember(self, grant: StaffGrant) -> None:
        """Keep the grant's verifier (store) and offline key (memory)."""
        if grant.offline is None:
            return
        self._offline_key = grant.offline.offline_key
        self._server_policy = grant.offline.policy
        with self.repos.transaction() as uow:
            uow.verifiers.put(StoredVerifier(grant.offline.verifier_id, grant.staff_no,
                                             grant.role, grant.offline.valid_until,
                                             grant.offline.verifier))

    def policy(self) -> OfflineStaffPolicy:
        """The kiosk's ``[staff.offline]``, made stricter by the server's where it is."""
        own = self.cfg.offline_staff
        return own if self._server_policy is None else own.stricter(self._server_policy)

    def check(self, member: StaffMember, pin: str) -> tuple[StoredVerifier, StaffProver]:
        """The verifier and prover of an offline log-in. Raises StaffOfflineUnavailable,
        PinLocked, PinWrong (counted in the store by ``PinLockout``)."""
        now = self.clock.now()
        with self.repos.read() as view:
            verifier = view.verifiers.latest(member.staff_no)
        key = self._offline_key
        if (key is None or verifier is None or not self.cfg.offline_staff.enabled
                or dt.datetime.fromisoformat(verifier.valid_until) < now):
            raise StaffOfflineUnavailable(None, "no offline verifier or key")
        policy = lockout_policy(self.cfg)
        refuse_if_locked(policy, verifier.locked_until, now)
        ctx = dict(kiosk_id=self.cfg.kiosk_id, staff_no=verifier.staff_no, role=verifier.role,
                   valid_until=verifier.valid_until, pin=pin)
        ok = hmac.compare_digest(c.offline_verifier(key, **ctx), verifier.verifier)
        with self.repos.transaction() as uow:
            if ok:
                uow.verifiers.set_state(verifier.verifier_id, 0, None)
                uow.audit.append(at=now, actor=member.staff_no, action="staff.login_offline",
                                 subject=member.staff_no, detail={"role": verifier.role})
                return verifier, StaffProver("offline", verifier.verifier_id,
                                             c.offline_mac_key(key, **ctx), self.policy(),
                                             dt.datetime.fromisoformat(verifier.valid_until))
            state, refusal = wrong_pin(policy, verifier.failures, now)
            uow.verifiers.set_state(verifier.verifier_id, state.failures, state.locked_until)
            uow.audit.append(at=now, actor=member.staff_no, action="pin.failed",
                             subject=f"staff:{member.staff_no}", detail={"offline": True})
        raise refusal

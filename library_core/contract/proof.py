# mypy: disable-error-code="valid-type"
"""Staff proof on an event (docs/security.md 5.2, 5.4): the canonical bytes of an event, the
MAC over them, and the offline verifier and MAC key derived from a staff PIN.

Written once: the kiosk computes the proof when the event is emitted, the record server checks
it before the event's handler runs. HMAC-SHA256 and ``compare_digest`` come from the standard
library; only the framing (which fields, in which order) is ours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from library_core.contract.types import Strict

CANONICAL_VERSION = 1
MAC_HEX = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
ProofId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")]


class StaffProof(Strict):
    """``{kind: "online", session_id, mac}`` or ``{kind: "offline", verifier_id, mac}``."""

    kind: Literal["online", "offline"]
    session_id: ProofId | None = None
    verifier_id: ProofId | None = None
    mac: MAC_HEX

    @model_validator(mode="after")
    def _one_id(self) -> StaffProof:
        if self.kind == "online" and (self.session_id is None or self.verifier_id is not None):
            raise ValueError("an online proof names its session_id only")
        if self.kind == "offline" and (self.verifier_id is None or self.session_id is not None):
            raise ValueError("an offline proof names its verifier_id only")
        return self


def _utc_micro(value: Any) -> str:
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError("occurred_at needs a UTC offset")
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical_event_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The bytes a staff proof covers: UTF-8 JSON, sorted keys, no spaces, of ``{"v": 1,
    event_id, kiosk_id, kind, occurred_at (UTC, microseconds), payload}``, the payload as its
    contract model dumps it (``model_dump(mode="json")``). ``seq`` is left out (a resuming
    kiosk renumbers events). Raises ContractError / ValueError for a payload its model refuses.
    """
    from library_core.contract.payloads import PAYLOADS  # payloads imports this module

    kind = str(envelope["kind"])
    payload = PAYLOADS[kind].model_validate(dict(envelope["payload"])).model_dump(mode="json")
    body = {"v": CANONICAL_VERSION, "event_id": str(envelope["event_id"]),
            "kiosk_id": str(envelope["kiosk_id"]), "kind": kind,
            "occurred_at": _utc_micro(envelope["occurred_at"]), "payload": payload}
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def event_mac(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 of ``message`` (canonical event bytes) under ``key``, lower-case hex."""
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def mac_matches(key: bytes, message: bytes, mac: str) -> bool:
    return hmac.compare_digest(event_mac(key, message), mac)


def _ctx(kiosk_id: str, staff_no: str, role: str, valid_until: str) -> bytes:
    # length-prefixed, so no two different contexts make the same bytes
    parts = (kiosk_id, staff_no, role, valid_until)
    return b"".join(len(p.encode()).to_bytes(2, "big") + p.encode() for p in parts)


def offline_verifier(offline_key: bytes, *, kiosk_id: str, staff_no: str, role: str,
                     valid_until: str, pin: str) -> bytes:
    """``V = HMAC(K_k, "offline-verify v1" ‖ ctx ‖ pin)``: what the kiosk stores to check a PIN
    offline; useless without ``K_k``, which never reaches the disk."""
    return hmac.new(offline_key, b"offline-verify v1" + _ctx(kiosk_id, staff_no, role,
                                                            valid_until) + pin.encode(),
                    hashlib.sha256).digest()


def offline_mac_key(offline_key: bytes, *, kiosk_id: str, staff_no: str, role: str,
                    valid_until: str, pin: str) -> bytes:
    """``M = HMAC(K_k, "offline-mac v1" ‖ ctx ‖ pin)``: the key of offline proofs (the server
    stores it; the kiosk derives it at an offline log-in and holds it in memory)."""
    return hmac.new(offline_key, b"offline-mac v1" + _ctx(kiosk_id, staff_no, role,
                                                         valid_until) + pin.encode(),
                    hashlib.sha256).digest()

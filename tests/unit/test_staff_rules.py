"""The shared pieces of staff authority (library_core.contract.proof, library_core.staff_rules):
the canonical bytes both sides MAC, and the offline staff policy."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from library_core import contract as c
from library_core import events as ev
from library_core.clock import CHINA_TZ
from library_core.staff_rules import (
    OFFLINE_LIMIT_EXCEEDED,
    OFFLINE_NOT_ALLOWED,
    OfflineStaffPolicy,
    offline_refusal,
)

PAY = {"payment_id": "p1", "reader_id": "r1", "receipt_no": "K01-20261124-0001",
       "method": "cash", "amount": 1500, "allocations": [{"fee_id": "f1", "amount": 1500}],
       "staff_no": "S0001"}


def _env(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": "5f0c6a0e-1f43-4c55-8d43-2b3f0b8f9a11", "kiosk_id": "K01", "seq": 7,
        "kind": ev.PAYMENT_RECORDED,
        "occurred_at": dt.datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ), "payload": dict(PAY)}
    return base | changes


def test_canonical_bytes_are_one_form_for_one_event() -> None:
    one = c.canonical_event_bytes(_env())
    # the same event told differently: another key order, the time as UTC text, a new seq
    told = _env(seq=99, occurred_at="2026-11-24T02:00:00+00:00",
                payload=dict(reversed(list(PAY.items()))))
    assert c.canonical_event_bytes(told) == one
    assert b'"seq"' not in one and b'"occurred_at":"2026-11-24T02:00:00.000000+00:00"' in one
    for other in (_env(event_id=str(uuid.uuid4())), _env(kiosk_id="K02"),
                  _env(payload=PAY | {"amount": 1501})):
        assert c.canonical_event_bytes(other) != one
    key = bytes(32)
    assert c.mac_matches(key, one, c.event_mac(key, one))
    assert not c.mac_matches(bytes([1]) * 32, one, c.event_mac(key, one))


def test_the_offline_verifier_depends_on_every_part_of_its_context() -> None:
    k = bytes(range(32))
    ctx = dict(kiosk_id="K01", staff_no="S0001", role="desk", valid_until="2026-11-27", pin="246810")
    v = c.offline_verifier(k, **ctx)
    assert v != c.offline_mac_key(k, **ctx)
    for name, value in (("kiosk_id", "K02"), ("staff_no", "S0002"), ("role", "supervisor"),
                        ("valid_until", "2026-11-28"), ("pin", "246811")):
        assert c.offline_verifier(k, **(ctx | {name: value})) != v, name
    assert c.offline_verifier(bytes(32), **ctx) != v


@pytest.mark.parametrize(("kind", "payload", "total", "reason"), [
    (ev.PAYMENT_RECORDED, PAY, 0, None),
    (ev.PAYMENT_RECORDED, PAY | {"amount": 2001}, 0, OFFLINE_LIMIT_EXCEEDED),
    (ev.PAYMENT_RECORDED, PAY, 3600, OFFLINE_LIMIT_EXCEEDED),  # the day's limit
    (ev.FEE_WAIVED, {"staff_no": "S0002"}, 0, OFFLINE_NOT_ALLOWED),
    (ev.DEPOSIT_REFUNDED, {"amount": 0}, 0, OFFLINE_NOT_ALLOWED),
    (ev.CARD_CANCELLED, {}, 0, OFFLINE_NOT_ALLOWED),
    (ev.CARD_BLOCKED, {"reason": "cancelled"}, 0, OFFLINE_NOT_ALLOWED),
    (ev.CARD_BLOCKED, {"reason": "lost"}, 0, None),  # a desk action that moves no money
    (ev.DAY_CLOSED, {}, 0, OFFLINE_NOT_ALLOWED),
])
def test_offline_staff_policy(kind: str, payload: dict[str, object], total: int,
                              reason: str | None) -> None:
    policy = OfflineStaffPolicy(cash_limit_fen=2000, day_cash_limit_fen=5000)
    assert offline_refusal(policy, kind, payload, day_total_fen=total) == reason


def test_whatever_the_config_says_refunds_stay_online_and_stricter_wins() -> None:
    loose = OfflineStaffPolicy(cash_limit_fen=10**8, day_cash_limit_fen=10**9,
                               allow_close_day=True)
    assert offline_refusal(loose, ev.DEPOSIT_REFUNDED, {}, day_total_fen=0) == OFFLINE_NOT_ALLOWED
    assert offline_refusal(loose, ev.DAY_CLOSED, {}, day_total_fen=0) is None
    both = loose.stricter(OfflineStaffPolicy())
    assert (both.cash_limit_fen, both.allow_close_day) == (OfflineStaffPolicy().cash_limit_fen,
                                                           False)

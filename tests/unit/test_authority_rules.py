"""The shared rules the record server re-checks kiosk claims with (library_core.rules)."""

from __future__ import annotations

import datetime as dt

from library_core.clock import CHINA_TZ
from library_core.pins import DEFAULT_N, hash_pin
from library_core.rules import (
    ACTION_CASH,
    ACTION_WAIVE,
    StaffRecord,
    deposit_refund_refusal,
    occurred_at_refusal,
    payment_refusal,
    pin_hash_refusal,
    staff_refusal,
)

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ)


def test_the_servers_default_pin_minimum_is_the_kiosks_default_cost() -> None:
    assert pin_hash_refusal(hash_pin("246813")) is None  # the kiosk's own default
    assert pin_hash_refusal(hash_pin("246813", n=DEFAULT_N >> 1)) == "pin_hash_too_weak"
    assert pin_hash_refusal("scrypt$16384$8$1$00$00") == "pin_hash_malformed"  # short digest
    assert pin_hash_refusal("scrypt$16383$8$1$" + "00" * 16 + "$" + "00" * 32) == \
        "pin_hash_malformed"  # not a power of two
    assert pin_hash_refusal("scrypt$" + str(1 << 24) + "$8$1$" + "00" * 16 + "$" + "00" * 32) \
        == "pin_hash_malformed"  # a cost that would tie up the verifier


def test_staff_authority() -> None:
    desk = StaffRecord("S0001", "desk")
    assert staff_refusal(desk, ACTION_CASH, NOW) is None
    assert staff_refusal(desk, ACTION_WAIVE, NOW) == "staff_role_required"
    assert staff_refusal(None, ACTION_CASH, NOW) == "unknown_staff"
    assert staff_refusal(StaffRecord("S1", "supervisor", active=False), ACTION_WAIVE,
                         NOW) == "staff_inactive"
    later = NOW + dt.timedelta(minutes=1)
    assert staff_refusal(StaffRecord("S1", "supervisor", locked_until=later), ACTION_WAIVE,
                         NOW) == "staff_locked"
    assert staff_refusal(StaffRecord("S1", "supervisor", locked=True, locked_until=NOW),
                         ACTION_WAIVE, later) is None  # the lock ran out


def test_money_rules() -> None:
    assert payment_refusal(500, [500]) is None
    assert payment_refusal(500, []) == "payment_allocates_nothing"
    assert payment_refusal(500, [200]) == "allocations_do_not_match_amount"
    ok = dict(deposit_paid=10000, refunded=0, card_statuses=["replaced", "cancelled"])
    assert deposit_refund_refusal(10000, **ok) is None
    assert deposit_refund_refusal(10001, **ok) == "refund_exceeds_deposit"
    assert deposit_refund_refusal(100, deposit_paid=10000, refunded=0,
                                  card_statuses=["cancelled", "active"]) == "card_not_cancelled"
    assert occurred_at_refusal(NOW + dt.timedelta(minutes=59), NOW) is None
    assert occurred_at_refusal(NOW + dt.timedelta(hours=2), NOW) == "occurred_in_future"

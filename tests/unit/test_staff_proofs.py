"""Every staff event a use case emits carries a staff proof made then (docs/security.md 5.2): a
business day run through the real use cases (cash for a new card and for fees, refund and
cancellation, a waiver, a lost card blocked at the desk, close of day); each event that names a
staff member verifies with that member's session key over ``canonical_event_bytes``, and no
self-service event carries one."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.services.common import Tender
from library_core import contract as c
from tests.support.receipts import business_day
from tests.support.services import ServicesEnv, make_reader, services_env  # noqa: F401


def test_every_staff_event_carries_a_proof_that_verifies(services_env: ServicesEnv) -> None:  # noqa: F811
    env = services_env
    assert env.staff is not None
    reader_id = env.new_card(8).reader_id
    barcode = env.add_item(100, "书")
    env.add_loan(reader_id, barcode, due_on=env.clock.now().date() - dt.timedelta(days=5))
    env.services.returns.check_in(barcode)  # an overdue fine to waive
    fee = env.services.fees.open_fees(reader_id)[0]
    env.services.staff.waive_fee(env.supervisor(), fee.fee_id, "first time")
    desk = env.desk()
    env.writer.place_blank()
    env.services.cards.new_card(make_reader(7), Tender.payment_code("134567890123456789"))
    reader = make_reader(7)
    auth = env.services.cards.verify_reader(reader.id_number, reader.pin)
    env.services.cards.report_lost(auth, staff=desk)
    business_day(env)
    events = env.store.pending_events(10_000)
    staff_events = [e for e in events if e["payload"].get("staff_no")]
    kinds = {e["kind"] for e in staff_events}
    assert {"payment.recorded", "fee.waived", "card.blocked", "card.cancelled",
            "deposit.refunded", "day.closed"} <= kinds, kinds
    for event in staff_events:
        proof = event.get("staff_proof")
        assert proof is not None and proof["kind"] == "online", event["kind"]
        key = env.staff.sessions[proof["session_id"]]
        assert c.mac_matches(key, c.canonical_event_bytes(event), proof["mac"]), event["kind"]
    assert not [e for e in events if not e["payload"].get("staff_no") and "staff_proof" in e]


def test_an_action_after_the_session_ended_is_refused_at_the_kiosk(
        services_env: ServicesEnv) -> None:  # noqa: F811
    """The server's session lasts 30 minutes; an event signed later would be refused there
    (``staff_session_expired``), so the kiosk refuses it with a message and leaves nothing."""
    from library_core.i18n import translate
    from library_core.staff_rules import StaffSessionEnded

    env = services_env
    desk = env.desk()
    env.clock.advance(minutes=31)
    env.writer.place_blank()
    before = env.snapshot()
    with pytest.raises(StaffSessionEnded) as ended:
        env.services.cards.new_card(make_reader(3), Tender.cash_by(desk))
    assert env.snapshot() == before
    assert "重新登录" in translate(ended.value.message_id, "zh_CN")
    assert "log in again" in translate(ended.value.message_id, "en")
    env.services.cards.new_card(make_reader(3), Tender.cash_by(env.desk()))  # a new log-in

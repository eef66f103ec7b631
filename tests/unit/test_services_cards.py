"""Card use cases: new card, tap, renewal, report lost and replacement."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from kiosk.services.common import Tender
from kiosk.services.errors import CardRefused, FeesOwed, PinLocked, PinWrong, ReaderExists
from library_core.errors import DomainError, NotFound, TokenError, ValidationError
from library_core.tokens import CardToken, decode_card_token, encode_card_token
from tests.support.services import (  # noqa: F401
    TEST_KEY,
    WECHAT_CODE,
    ServicesEnv,
    make_reader,
    resident_id,
    services_env,  # noqa: F401
)


@pytest.fixture
def env(services_env: ServicesEnv) -> ServicesEnv:  # noqa: F811
    return services_env


def events(env: ServicesEnv, kind: str) -> list[dict]:
    return [json.loads(r[0]) for r in env.store.read(
        "SELECT payload FROM outbox WHERE kind = ? ORDER BY seq", (kind,))]


def test_new_card_writes_everything_in_one_go(env: ServicesEnv) -> None:
    result = env.new_card(1)
    uid, raw = env.writer.tapped()
    token = decode_card_token(raw, uid, TEST_KEY)
    assert token == CardToken(result.card_no, 1, dt.date(2029, 11, 24))
    assert result.card_no.startswith("20001") and result.amount == 11000  # adult deposit + fee
    assert env.gateway.net_taken() == 11000
    assert [e["kind"] for e in events(env, "fee.assessed")] == ["deposit", "card"]
    assert events(env, "card.issued")[0]["uid"] == uid.hex()
    pay = events(env, "payment.recorded")[0]
    assert pay["amount"] == 11000 and pay["receipt_no"] == "K01-20261124-0001"
    receipt = env.store.receipt("K01-20261124-0001")
    assert receipt == result.receipt
    assert receipt.id_masked == "110***********0017" and receipt.card_no_masked.count("*") == 4
    assert "199003" not in receipt.to_json()  # the full ID number never reaches the receipt
    assert env.store.receipt_print_status(receipt.receipt_no) == ("pending", "")
    assert env.store.audit_entries(1)[0]["action"] == "card.issued"


def test_senior_card_is_free_and_needs_no_payment(env: ServicesEnv) -> None:
    env.writer.place_blank()
    senior = dataclasses.replace(make_reader(2, category="senior"),
                                 id_number=resident_id(2, birth="19500307"))  # 76: senior by age
    result = env.services.cards.new_card(senior, None)
    assert result.amount == 0 and result.payment_id is None and env.gateway.attempts == 0


def test_same_id_number_offers_renewal_not_a_second_card(env: ServicesEnv) -> None:
    env.new_card(1)
    env.writer.place_blank()
    with pytest.raises(ReaderExists) as info:
        env.services.cards.new_card(make_reader(1), Tender.payment_code(WECHAT_CODE))
    assert info.value.message_id == "reader.exists_with_live_card"
    assert info.value.params["has_live_card"] is True
    assert env.store.count("readers") == 1 and env.gateway.attempts == 1


def test_issued_card_cannot_be_issued_again(env: ServicesEnv) -> None:
    env.new_card(1)  # the card stays on the reader
    with pytest.raises(CardRefused) as info:
        env.services.cards.new_card(make_reader(2), Tender.payment_code(WECHAT_CODE))
    assert info.value.message_id == "card.in_use"


def test_bad_input_is_refused_before_payment(env: ServicesEnv) -> None:
    env.writer.place_blank()
    bad = make_reader(3)
    for field, value, msg in (("id_number", "110105199003070018", "id.checksum"),
                              ("phone", "12345", "phone.invalid"),
                              ("pin", "111111", "pin.weak"),
                              ("category", "alien", "category.invalid")):
        with pytest.raises(ValidationError) as info:
            env.services.cards.new_card(dataclasses.replace(bad, **{field: value}),
                                        Tender.payment_code(WECHAT_CODE))
        assert info.value.message_id == msg
    assert env.gateway.attempts == 0 and env.store.count("readers") == 0


def test_tap_shows_masked_summary_with_loans_and_balance(env: ServicesEnv) -> None:
    result = env.new_card(1)
    barcode = env.add_item(5, "三体")
    env.add_loan(result.reader_id, barcode, due_on=dt.date(2026, 11, 20))
    summary = env.services.cards.tap()
    assert summary.reader_id == result.reader_id
    assert summary.name_masked == "张***" and summary.phone_masked == "138****0001"
    assert [(loan.title, loan.days_overdue) for loan in summary.open_loans] == [("三体", 4)]
    assert summary.balance_owed == 0 and not summary.expired


def test_tap_refusals(env: ServicesEnv) -> None:
    cards = env.services.cards
    result = env.new_card(1)
    uid, raw = env.writer.tapped()
    # a token of ours for a card number we never issued
    ghost = encode_card_token(CardToken("20009999999995", 1, dt.date(2030, 1, 1)), uid, TEST_KEY)
    with pytest.raises(CardRefused, match="card.unknown"):
        cards.identify_card(uid, ghost)
    # copied to another card without the key
    with pytest.raises(TokenError) as info:
        cards.identify_card(b"\x01\x02\x03\x04", raw)
    assert info.value.reason == "other_card"
    # tampered expiry
    forged = raw[:12] + b"\xff" + raw[13:]
    with pytest.raises(TokenError):
        cards.identify_card(uid, forged)
    # blank
    with pytest.raises(TokenError, match="token.blank"):
        cards.identify_card(uid, bytes(48))
    # expired: refused on tap, accepted for renewal
    env.clock.set(dt.datetime(2029, 12, 1, 10, 0))
    with pytest.raises(CardRefused) as err:
        cards.identify_card(uid, raw)
    assert err.value.message_id == "card.expired"
    assert cards.identify_card(uid, raw, allow_expired=True).expired
    assert result.card_no


def test_renewal_extends_and_rewrites_token(env: ServicesEnv) -> None:
    result = env.new_card(1)
    uid, raw = env.writer.tapped()
    renewed = env.services.cards.renew(uid, raw, 24, Tender.payment_code(WECHAT_CODE))
    assert renewed.expires_on == dt.date(2031, 11, 24) and renewed.amount == 2000
    assert decode_card_token(env.writer.cards[uid], uid, TEST_KEY).expires_on == dt.date(2031, 11, 24)
    ev = events(env, "card.renewed")[0]
    assert ev == {"card_no": result.card_no, "reader_id": result.reader_id, "months": 24,
                  "previous_expires_on": "2029-11-24", "expires_on": "2031-11-24"}
    with pytest.raises(ValidationError, match="renewal.period"):
        env.services.cards.renew(uid, env.writer.cards[uid], 7, Tender.payment_code(WECHAT_CODE))


def test_renewal_refused_while_fees_owed_above_limit(env: ServicesEnv) -> None:
    result = env.new_card(1)
    for serial in range(1, 4):  # three items 200+ days late: 3 x 2000 fen capped fines
        barcode = env.add_item(serial)
        env.add_loan(result.reader_id, barcode, due_on=dt.date(2026, 1, 1))
        env.services.returns.check_in(barcode)
    uid, raw = env.writer.tapped()
    with pytest.raises(FeesOwed) as info:
        env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    assert info.value.params["owed"] == 6000 and info.value.params["limit"] == 5000
    assert info.value.params["owed_text"] == "¥60.00"
    env.services.fees.pay(result.reader_id, Tender.payment_code(WECHAT_CODE), amount=1500)
    assert env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE)).amount == 1000


def test_replacement_blocks_old_card_and_refuses_its_copy(env: ServicesEnv) -> None:
    cards = env.services.cards
    first = env.new_card(1)
    old_uid, old_raw = env.writer.tapped()
    auth = cards.verify_reader(make_reader(1).id_number, make_reader(1).pin)
    env.writer.place_blank()
    new = cards.replace(auth, Tender.payment_code(WECHAT_CODE))
    assert new.generation == 2 and new.card_no != first.card_no
    assert new.expires_on == first.expires_on
    # the block went out first, with priority
    pending = env.store.pending_events(100)
    assert pending[0]["kind"] == "card.blocked" and pending[0]["priority"] == 1
    assert pending[0]["payload"]["reason"] == "lost"
    # the old card, or an exact copy of it (same UID and data), is refused as lost
    with pytest.raises(CardRefused) as info:
        cards.identify_card(old_uid, old_raw)
    assert info.value.message_id == "card.lost"
    assert cards.tap().card_no == new.card_no
    replaced = events(env, "card.replaced")[0]
    assert replaced["old_card_no"] == first.card_no and replaced["generation"] == 2


def test_pin_lockout_after_five_wrong_pins(env: ServicesEnv) -> None:
    env.new_card(1)
    id_number = make_reader(1).id_number
    cards = env.services.cards
    for left in (4, 3, 2, 1):
        with pytest.raises(PinWrong) as info:
            cards.verify_reader(id_number, "999999")
        assert info.value.params["attempts_left"] == left
    with pytest.raises(PinLocked):
        cards.verify_reader(id_number, "999999")
    with pytest.raises(PinLocked):  # even the right PIN, while locked
        cards.verify_reader(id_number, make_reader(1).pin)
    env.clock.advance(minutes=31)
    assert cards.verify_reader(id_number, make_reader(1).pin).reader_id
    actions = [e["action"] for e in env.store.audit_entries(20)]
    assert actions.count("pin.failed") == 4 and "pin.locked" in actions and actions[0] == "pin.ok"
    # a success resets the count
    with pytest.raises(PinWrong) as info:
        cards.verify_reader(id_number, "999999")
    assert info.value.params["attempts_left"] == 4
    with pytest.raises(NotFound):
        cards.verify_reader(make_reader(9).id_number, "246813")


def test_cancelled_card_refused(env: ServicesEnv) -> None:
    result = env.new_card(1)
    uid, raw = env.writer.tapped()
    cancel = env.services.staff.refund_deposit_and_cancel(env.supervisor(), result.reader_id, "leaving")
    assert cancel.deposit_refunded == 10000
    with pytest.raises(CardRefused) as info:
        env.services.cards.identify_card(uid, raw)
    assert info.value.message_id == "card.cancelled"
    assert isinstance(info.value, DomainError)

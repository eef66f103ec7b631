"""The age rules of a registration (library_core.ages) and the card service applying them:
child and senior follow from the birth date, a guardian's phone under 14, an expired ID card
refused; each refusal named, nothing registered."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from kiosk.services.common import Tender
from library_core.ages import (
    age_on,
    categories_for,
    category_refusal,
    claimed_category_refusal,
    guardian_refusal,
    id_card_refusal,
)
from library_core.errors import ValidationError
from server_client.store.outbox import scrubbed
from tests.support.services import (  # noqa: F401
    WECHAT_CODE,
    ServicesEnv,
    make_reader,
    resident_id,
    services_env,
)

TODAY = dt.date(2026, 11, 24)


def test_age_counts_whole_years_and_leap_birthdays() -> None:
    assert age_on(dt.date(2012, 11, 24), TODAY) == 14
    assert age_on(dt.date(2012, 11, 25), TODAY) == 13
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 28)) == 17
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 3, 1)) == 18


@pytest.mark.parametrize(("birth", "allowed"), [
    (dt.date(2012, 11, 25), ("child",)),  # 13 and a day short of 14
    (dt.date(2012, 11, 24), ("adult", "student")),  # 14 today
    (dt.date(1966, 11, 25), ("adult", "student")),  # 59
    (dt.date(1966, 11, 24), ("senior",)),  # 60 today
])
def test_categories_follow_from_the_age(birth: dt.date, allowed: tuple[str, ...]) -> None:
    assert tuple(str(c) for c in categories_for(birth, TODAY)) == allowed
    for cat in ("adult", "student", "child", "senior"):
        assert (category_refusal(cat, birth, TODAY) is None) == (cat in allowed)


def test_server_half_refuses_only_claimed_benefits() -> None:
    adult = dt.date(1990, 3, 7)
    assert claimed_category_refusal("senior", adult, TODAY) == "category.age"
    assert claimed_category_refusal("child", adult, TODAY) == "category.age"
    assert claimed_category_refusal("adult", dt.date(1950, 1, 1), TODAY) is None  # older kiosks


def test_guardian_and_id_card_rules() -> None:
    child, adult = dt.date(2016, 5, 1), dt.date(1990, 3, 7)
    assert guardian_refusal(child, TODAY, guardian_phone=None) == "guardian.required"
    assert guardian_refusal(child, TODAY, guardian_phone="13912345678") is None
    assert guardian_refusal(adult, TODAY, guardian_phone="13912345678") == "guardian.not_needed"
    assert guardian_refusal(adult, TODAY, guardian_phone=None) is None
    assert id_card_refusal(TODAY - dt.timedelta(days=1), TODAY) == "idcard.expired"
    assert id_card_refusal(TODAY, TODAY) is None  # the last valid day still counts
    assert id_card_refusal(None, TODAY) is None  # 长期
    assert id_card_refusal(None, TODAY, valid_from=TODAY + dt.timedelta(days=1)) == "idcard.not_yet_valid"


def test_card_service_refuses_wrong_category_and_missing_guardian(services_env: ServicesEnv) -> None:  # noqa: F811
    env = services_env
    cards = env.services.cards
    child_id = resident_id(7, birth="20160501")
    env.writer.place_blank()
    cases = [
        (dataclasses.replace(make_reader(7), id_number=child_id, category="adult"), "category.age"),
        (dataclasses.replace(make_reader(7), id_number=child_id, category="child"), "guardian.required"),
        (dataclasses.replace(make_reader(8), category="senior"), "category.age"),  # born 1990
        (dataclasses.replace(make_reader(8), guardian_phone="13912345678"), "guardian.not_needed"),
    ]
    for req, reason in cases:
        with pytest.raises(ValidationError) as info:
            cards.new_card(req, None)
        assert info.value.message_id == reason
    assert env.store.count("readers") == 0 and env.store.count("outbox") == 0
    assert cards.categories_for(child_id) == ("child",) and cards.guardian_needed(child_id)
    with pytest.raises(ValidationError) as info:
        cards.check_id_card(child_id, valid_to=env.clock.now().date() - dt.timedelta(days=1))
    assert info.value.message_id == "idcard.expired"


def test_child_registration_carries_the_guardian_phone_then_masks_it(services_env: ServicesEnv) -> None:  # noqa: F811
    env = services_env
    env.writer.place_blank()
    req = dataclasses.replace(make_reader(9), id_number=resident_id(9, birth="20160501"),
                              category="child", guardian_phone="13700001111")
    env.services.cards.new_card(req, Tender.payment_code(WECHAT_CODE))
    [row] = env.store.read("SELECT payload FROM outbox WHERE kind = 'reader.registered'")
    assert '"guardian_phone": "13700001111"' in row["payload"]
    assert scrubbed(json.loads(row["payload"]))["guardian_phone"] == "137****1111"

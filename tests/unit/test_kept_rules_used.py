"""Rules that were written once and then re-implemented or left unused, now used where they
belong: the services refuse a card through ``tokens.check_card_token``, and visitor registration
keeps to ``kiosk.opening_time`` as well as the closing time."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.services.errors import CardRefused
from kiosk.services.visitors import VisitorRequest
from library_core.errors import DomainError, TokenError
from library_core.i18n import translate
from library_core.tokens import CardToken, decode_card_token, encode_card_token
from tests.support.services import TEST_KEY, ServicesEnv, services_env  # noqa: F401


@pytest.fixture
def env(services_env: ServicesEnv) -> ServicesEnv:  # noqa: F811
    return services_env


def test_an_older_generation_token_is_refused_by_check_card_token(env: ServicesEnv) -> None:
    env.new_card(1)
    uid, raw = env.writer.tapped()
    token = decode_card_token(raw, uid, TEST_KEY)
    older = encode_card_token(CardToken(token.card_no, token.generation - 1, token.expires_on),
                              uid, TEST_KEY)
    with pytest.raises(CardRefused) as info:
        env.services.cards.identify_card(uid, older)
    assert info.value.message_id == "card.lost"
    assert isinstance(info.value.__cause__, TokenError)
    assert info.value.__cause__.reason == "stale_generation"


def test_an_expired_card_is_refused_by_check_card_token_on_the_record_date(
    env: ServicesEnv,
) -> None:
    result = env.new_card(1)
    uid, raw = env.writer.tapped()
    env.clock.set(dt.datetime.combine(result.expires_on + dt.timedelta(days=1), dt.time(10)))
    with pytest.raises(CardRefused) as info:
        env.services.cards.identify_card(uid, raw)
    assert info.value.message_id == "card.expired"
    assert info.value.params["expires_on"] == result.expires_on.isoformat()
    assert isinstance(info.value.__cause__, TokenError)
    assert info.value.__cause__.reason == "expired"
    # renewal takes it: the same check with the expiry left out
    assert env.services.cards.identify_card(uid, raw, allow_expired=True).expired


def _visitor() -> VisitorRequest:
    return VisitorRequest(name="赵六", phone="13900001111", purpose="参观",
                          host_department="办公室", consent=True, id_number="")


def test_no_visitor_pass_before_opening_time(env: ServicesEnv) -> None:
    assert env.config.opening_time == dt.time(9, 0)
    env.clock.set(dt.datetime(2026, 11, 24, 8, 59))
    with pytest.raises(DomainError) as info:
        env.services.visitors.register(_visitor())
    assert info.value.message_id == "visitor.not_open"
    assert info.value.params == {"opening": "09:00"}
    assert env.store.count("visitors") == 0 and env.store.pending_count() == 0
    for language in ("zh_CN", "en"):
        text = translate("visitor.not_open", language, **info.value.params)
        assert "09:00" in text and text != "visitor.not_open"
    env.clock.set(dt.datetime(2026, 11, 24, 9, 0))
    assert env.services.visitors.register(_visitor()).visit.visit_id == "K01-V000001"

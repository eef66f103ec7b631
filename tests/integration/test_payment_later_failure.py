"""A later step of the use case fails after the provider took the money: the real adapter
refunds it at once (intent ``refunded``), the error says so, nothing of the transaction is
left; and a store that refuses even the intent's "paid" gives the money straight back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.payments.factory import build_gateway
from kiosk.services import build_services
from kiosk.services.common import Tender
from library_core.errors import DeviceError, StoreError
from server_client.store.intents import IntentStore
from tests.support.pay_setup import PaySetup, code_for, pay_setup
from tests.support.services import ServicesEnv, make_env, make_reader


@pytest.fixture(params=["wechat", "alipay"])
def paying(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[PaySetup, ServicesEnv, Any]]:
    with pay_setup(request.param, tmp_path / "pay") as setup:
        env = make_env(tmp_path / "kiosk.sqlite3")
        gateway = build_gateway(setup.settings(), store=env.store, clock=env.clock, kiosk_no=1)
        services = build_services(env.store, env.clock, gateway, env.writer, env.config)
        yield setup, env, services
        env.store.close()


def _tender(setup: PaySetup) -> Tender:
    return Tender.payment_code(code_for(setup.kind))


def test_a_failed_card_write_refunds_and_the_error_says_how_much(
        paying: tuple[PaySetup, ServicesEnv, Any]) -> None:
    setup, env, services = paying
    before = env.snapshot()
    env.writer.place_blank()
    env.writer.fail_write = True
    with pytest.raises(DeviceError) as failed:
        services.cards.new_card(make_reader(1), _tender(setup))
    books = setup.emulator.books
    (trade,) = books.trades.values()
    assert failed.value.params["refunded_text"] == f"¥{trade.amount // 100}.{trade.amount % 100:02d}"
    assert trade.state == "refunded" and books.kept() == 0
    assert [i.state for i in IntentStore(env.store).all()] == ["refunded"]
    after = env.snapshot()
    assert {k: v for k, v in after.items() if k != "payment_intents"} == \
        {k: v for k, v in before.items() if k != "payment_intents"}


def test_a_store_error_at_commit_refunds(paying: tuple[PaySetup, ServicesEnv, Any]) -> None:
    setup, env, services = paying
    armed = {"on": False}

    def hook(step: str) -> None:
        if armed["on"] and step == "COMMIT":
            armed["on"] = False
            raise StoreError("error.store", "disk full (test)")

    env.store.fault_hook = hook
    write = env.writer.write_token

    def write_then_arm(uid: bytes, data: bytes) -> None:
        write(uid, data)
        armed["on"] = True  # the use case's own COMMIT is next

    env.writer.write_token = write_then_arm  # type: ignore[method-assign]
    env.writer.place_blank()
    with pytest.raises(StoreError) as failed:
        services.cards.new_card(make_reader(2), _tender(setup))
    assert "refunded_text" in failed.value.params
    assert setup.emulator.books.kept() == 0
    assert [i.state for i in IntentStore(env.store).all()] == ["refunded"]
    assert env.store.count("cards") == 0 and env.store.count("payments") == 0


def test_a_store_that_refuses_the_paid_mark_gives_the_money_straight_back(
        paying: tuple[PaySetup, ServicesEnv, Any]) -> None:
    setup, env, services = paying
    seen: list[str] = []

    def hook(sql: str) -> None:
        seen.append(sql)
        if "UPDATE payment_intents" in sql and not any("refused once" in s for s in seen):
            seen.append("refused once")
            raise StoreError("error.store", "disk full (test)")

    env.store.fault_hook = hook
    env.writer.place_blank()
    with pytest.raises(StoreError):
        services.cards.new_card(make_reader(3), _tender(setup))
    assert setup.emulator.books.kept() == 0  # refunded with no store write
    assert [i.state for i in IntentStore(env.store).all()] == ["open"]
    env.store.fault_hook = None
    gateway = build_gateway(setup.settings(), store=env.store, clock=env.clock, kiosk_no=1)
    assert [r.outcome for r in gateway.recover()] in (["reversed"], ["failed"])
    assert setup.emulator.books.kept() == 0

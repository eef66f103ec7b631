"""Each provider outcome through the real adapter and the durable lifecycle, against an HTTP
emulator of WeChat Pay (HTTPS, merchant client certificate) and of Alipay: success, waiting
for the payer N queries, never confirmed (reversed), SYSTEMERROR, a bad signature, a timeout,
a dropped connection, a refund. Built from a production kiosk.toml by ``build_gateway``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.payments.factory import build_gateway, build_provider
from kiosk.payments.lifecycle import DurablePaymentGateway, PaymentProgress
from kiosk.payments.provider import ProviderSignatureError
from kiosk.services.errors import PaymentRefused
from library_core.clock import FixedClock
from server_client.store import Store
from server_client.store.intents import IntentStore
from tests.support.pay_emulator_base import Script
from tests.support.pay_setup import PaySetup, code_for, pay_setup

START = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


class SleptTime:
    """The gateway's wait clock: moved on only by what it sleeps, so its countdown (``wait_s``
    of 1 s, a query each 0.05 s) is the same number of queries however slowly the emulator
    answers on a loaded machine (on the wall clock, three HTTPS queries could use up the
    second and reverse a trade the payer confirmed)."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


class Env:
    def __init__(self, setup: PaySetup, store: Store) -> None:
        self.setup = setup
        self.books = setup.emulator.books
        self.store = store
        self.clock = FixedClock(START)
        self.settings = setup.settings()
        self.gateway: DurablePaymentGateway = build_gateway(
            self.settings, store=store, clock=self.clock, kiosk_no=7)
        slept = SleptTime()
        self.gateway.sleep, self.gateway.monotonic = slept.sleep, slept.monotonic
        self.intents = IntentStore(store)
        self.progress: list[PaymentProgress] = []
        self.gateway.subscribe(self.progress.append)  # type: ignore[arg-type]

    def pay(self, amount: int = 1250) -> Any:
        return self.gateway.charge(code=code_for(self.setup.kind), amount=amount,
                                   reference="fees:reader-1")

    def states(self) -> list[str]:
        return [i.state for i in self.intents.all()]


@pytest.fixture(params=["wechat", "alipay"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with pay_setup(request.param, tmp_path / "pay") as setup:
        store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id="K01")
        yield Env(setup, store)
        store.close()


def test_success_is_committed_as_an_intent_then_paid_then_booked(env: Env) -> None:
    charge = env.pay()
    assert charge.transaction_id and charge.provider == env.setup.kind and charge.amount == 1250
    intent = env.intents.get(charge.out_trade_no)
    assert intent is not None and intent.state == "paid"
    assert intent.transaction_id == charge.transaction_id
    assert charge.out_trade_no.startswith("LK00007261201") and len(charge.out_trade_no) <= 32
    env.gateway.settled(charge)
    assert env.states() == ["booked"]
    assert env.books.kept() == 1250 and env.books.count("/pay/micropay" if env.setup.kind ==
                                                        "wechat" else "alipay.trade.pay") == 1


def test_waiting_for_the_payer_is_queried_with_a_countdown_then_paid(env: Env) -> None:
    env.books.script = Script("waiting", waits=2)
    charge = env.pay()
    assert env.states() == ["paid"] and env.books.kept() == 1250
    waiting = [p for p in env.progress if p.state == "waiting"]
    assert len(waiting) >= 3 and all(0 < p.seconds_left <= 1 for p in waiting)
    assert env.progress[-1].state == "done" and charge.transaction_id


def test_never_confirmed_is_reversed_and_nothing_is_taken(env: Env) -> None:
    env.books.script = Script("waiting", waits=None)
    with pytest.raises(PaymentRefused) as refused:
        env.pay()
    assert refused.value.message_id == "payment.reversed"
    assert env.states() == ["reversed"] and env.books.kept() == 0
    assert [t.state for t in env.books.trades.values()] == ["reversed"]
    assert {p.state for p in env.progress} >= {"waiting", "reversing", "done"}


@pytest.mark.parametrize("after", ["paid", "none"])
def test_system_error_is_settled_by_query(env: Env, after: str) -> None:
    env.books.script = Script("system_error", after=after)
    if after == "paid":
        charge = env.pay()
        assert env.states() == ["paid"] and env.books.kept() == 1250 and charge.transaction_id
    else:
        with pytest.raises(PaymentRefused) as refused:
            env.pay()
        assert refused.value.message_id == "payment.refused"
        assert env.states() == ["failed"] and env.books.kept() == 0


def test_a_bad_provider_signature_is_refused_and_the_money_comes_back(env: Env) -> None:
    env.books.script = Script("bad_signature")
    provider = build_provider(env.settings, env.clock)
    with pytest.raises(ProviderSignatureError):
        provider.query("LK-unknown")
    with pytest.raises(PaymentRefused) as refused:
        env.pay()
    # no answer was believed: not paid, not reversed (its answer was forged too): left open
    assert refused.value.message_id == "payment.uncertain"
    assert env.states() == ["open"]
    assert env.books.count("/pay/orderquery" if env.setup.kind == "wechat"
                           else "alipay.trade.query") >= 2  # asked again, never believed
    env.books.script = Script("success")  # the real provider answers again
    outcome = env.gateway.recover()
    assert [r.outcome for r in outcome] == ["reversed"]
    assert env.states() == ["reversed"] and env.books.kept() == 0


@pytest.mark.parametrize("mode", ["timeout", "drop"])
@pytest.mark.parametrize("after", ["paid", "none"])
def test_no_answer_is_queried_then_settled_or_refused(env: Env, mode: str, after: str) -> None:
    env.books.script = Script(mode, after=after, hold_s=1.5)
    if after == "paid":
        charge = env.pay()
        assert env.states() == ["paid"] and charge.transaction_id
        assert len(env.books.trades) == 1 and env.books.kept() == 1250
    else:
        with pytest.raises(PaymentRefused):
            env.pay()
        assert env.states() == ["failed"] and env.books.kept() == 0


def test_a_refund_gives_the_whole_charge_back_once(env: Env) -> None:
    charge = env.pay(300)
    env.gateway.refund(charge, reason="card write failed")
    assert env.states() == ["refunded"] and env.books.kept() == 0
    with pytest.raises(Exception) as again:
        env.gateway.refund(charge, reason="twice")
    assert getattr(again.value, "message_id", "") == "payment.refund_failed"
    assert env.books.kept() == 0


def test_a_failed_refund_is_kept_open_and_retried_by_recovery(env: Env) -> None:
    charge = env.pay(300)
    env.books.script = Script("success", refund_fails=True)
    with pytest.raises(Exception) as failed:
        env.gateway.refund(charge, reason="card write failed")
    assert getattr(failed.value, "message_id", "") == "payment.refund_failed"
    assert env.states() == ["refund_failed"] and env.books.kept() == 300
    env.books.script = Script("success")
    assert [r.outcome for r in env.gateway.recover()] == ["refunded"]
    assert env.books.kept() == 0 and env.gateway.recover() == []


def test_an_answer_claiming_another_amount_is_not_believed_and_is_reversed(env: Env) -> None:
    env.books.script = Script("success", amount_delta=1)
    with pytest.raises(PaymentRefused) as refused:
        env.pay(1250)
    assert refused.value.message_id == "payment.reversed"
    assert env.states() == ["reversed"] and env.books.kept() == 0

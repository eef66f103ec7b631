"""The payment recovery while the kiosk is up (``kiosk.payments.recovery.RecoveryLoop``), with
the real adapters against the providers' emulators: an intent left open longer than the wait
whose screen is gone is settled by a round on the loop's own thread; the intent a screen is
still waiting on is never touched, paid or not; a provider that claims another amount than
was asked gets its trade reversed, nothing booked."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.payments.factory import build_gateway, start_recovery_loop
from kiosk.payments.lifecycle import DurablePaymentGateway
from kiosk.payments.recovery import RecoveryLoop
from kiosk.services import build_services
from kiosk.services.common import Tender
from library_core.errors import DeviceError
from server_client.store.intents import Intent, IntentStore
from tests.support.pay_emulator_base import Script, Trade
from tests.support.pay_setup import PaySetup, code_for, pay_setup
from tests.support.services import ServicesEnv, make_env, make_reader

WAIT_S = 20.0  # the configured wait: a screen waiting for the payer is open this long at most
JOIN_S = 120.0  # a bound on the screen's thread finishing (a guard against a hang, not a timing check)


class Paying:
    def __init__(self, setup: PaySetup, env: ServicesEnv) -> None:
        self.setup, self.env = setup, env
        self.books = setup.emulator.books
        self.intents = IntentStore(env.store)
        gateway = build_gateway(setup.settings(), store=env.store, clock=env.clock, kiosk_no=1)
        assert isinstance(gateway, DurablePaymentGateway)
        self.gateway = gateway
        self.services = build_services(env.store, env.clock, gateway, env.writer, env.config)

    def states(self) -> list[str]:
        return [i.state for i in self.intents.all()]

    def leave_a_refund_not_accepted(self) -> None:
        """A card write fails after the payment and the provider refuses the refund: the
        intent stays ``refund_failed`` with the money kept, and the screen has moved on."""
        self.books.script = Script("success", refund_fails=True)
        self.env.writer.place_blank()
        self.env.writer.fail_write = True
        with pytest.raises(DeviceError):
            self.services.cards.new_card(make_reader(1), Tender.payment_code(code_for(self.setup.kind)))
        self.env.writer.fail_write = False
        assert self.states() == ["refund_failed"] and self.books.kept() > 0
        self.books.script = Script("success")  # the provider takes refunds again


@pytest.fixture(params=["wechat", "alipay"])
def paying(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Paying]:
    with pay_setup(request.param, tmp_path / "pay", wait_s=WAIT_S) as setup:
        env = make_env(tmp_path / "kiosk.sqlite3")
        yield Paying(setup, env)
        env.store.close()


def _until(what: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Wait for a condition (a guard against a hang, not a timing check)."""
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_stale_intent_is_booked_and_refunded_by_a_round_on_the_loops_own_thread(
        paying: Paying, caplog: pytest.LogCaptureFixture) -> None:
    paying.leave_a_refund_not_accepted()
    loop: RecoveryLoop = start_recovery_loop(paying.gateway, interval_s=0.05)
    try:
        with caplog.at_level(logging.WARNING, logger="kiosk.payments"):
            assert _until(lambda: loop.rounds >= 2)
            assert paying.states() == ["refund_failed"]  # younger than the wait: left alone
            paying.env.clock.advance(seconds=WAIT_S + 1)
            assert _until(lambda: paying.states() == ["refunded"])
    finally:
        loop.stop()
    (trade,) = paying.books.trades.values()
    rows = paying.env.store.read("SELECT kind, transaction_id, amount FROM payments ORDER BY kind")
    assert [tuple(r) for r in rows] == [("payment", trade.transaction_id, trade.amount),
                                        ("refund", trade.transaction_id, trade.amount)]
    assert [e["kind"] for e in paying.env.store.pending_events(10)] == [
        "payment.unapplied", "payment.refunded"]
    assert paying.books.kept() == 0 and paying.env.store.count("cards") == 0
    threads = {r.threadName for r in caplog.records if r.name == "kiosk.payments.books"}
    assert threads == {"payment-recovery"}  # never the caller's (the UI's) thread


def test_a_round_never_touches_the_intent_a_screen_is_waiting_on(paying: Paying) -> None:
    paying.leave_a_refund_not_accepted()
    stale = paying.intents.all()[0].out_trade_no
    paying.books.script = Script("waiting", waits=None)  # the payer has not confirmed yet
    loop = RecoveryLoop(paying.gateway)
    result: dict[str, Any] = {}
    screen = threading.Thread(target=lambda: result.update(charge=paying.gateway.charge(
        code=code_for(paying.setup.kind), amount=500, reference="fees:R1")))
    screen.start()
    waiting = ""
    try:
        assert _until(lambda: len(paying.books.trades) == 2 and len(paying.gateway.active) == 1)
        (waiting,) = paying.gateway.active
        paying.env.clock.advance(seconds=WAIT_S * 3)  # both intents now older than the wait
        done = loop.run_once()
        assert [d.out_trade_no for d in done] == [stale]  # the stale one only
        assert paying.intents.get(waiting).state == "open"  # type: ignore[union-attr]
        assert paying.books.trades[waiting].state == "waiting"  # not reversed under the screen
        paying.books.trades[waiting].waits_left = 0  # the payer confirms on the phone
        screen.join(JOIN_S)
        assert not screen.is_alive() and paying.intents.get(waiting).state == "paid"  # type: ignore[union-attr]
        assert loop.run_once() == []  # paid, the use case not finished: still the screen's
        assert paying.books.trades[waiting].refunded == 0
    finally:
        if waiting:
            paying.books.trades[waiting].waits_left = 0
        screen.join(JOIN_S)
    paying.gateway.refund(result["charge"], reason="test: the use case gives it back")
    assert paying.gateway.active == frozenset()
    assert paying.states() == ["refunded", "refunded"] and paying.books.kept() == 0


def test_a_trade_the_provider_says_took_another_amount_is_reversed_not_booked(
        paying: Paying) -> None:
    otn = "LK000012611240000000512AB"
    paying.intents.create(Intent(otn, paying.setup.kind, 500, "fees:R1", "open"),
                          at=paying.env.clock.now())
    with paying.books.lock:  # the provider's side of a trade it says took 5.01 for 5.00
        paying.books.trades[otn] = Trade(otn, 501, "paid", paying.books.next_id("4200"))
    paying.env.clock.advance(seconds=WAIT_S + 1)
    assert [d.outcome for d in RecoveryLoop(paying.gateway).run_once()] == ["reversed"]
    assert paying.states() == ["reversed"] and paying.books.kept() == 0
    assert paying.env.store.count("payments") == 0 and paying.env.store.pending_events(10) == []

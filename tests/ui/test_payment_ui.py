"""The payment lifecycle on screen (Xvfb, touches on the real widgets), the running app rewired
to a real WeChat Pay adapter against the provider's emulator: "confirm on your phone" counts
down while the provider waits for the payer, no confirmation in time -> reversed and "nothing
was taken"; a virtual card pulled mid-write through pcscd -> refunded, and the screen says so."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.factory import build_card_reader
from kiosk.app_runtime import build_services
from kiosk.payments.factory import build_gateway
from kiosk.payments.lifecycle import DurablePaymentGateway
from library_core.money import format_fen
from server_client.store import Store
from server_client.store.intents import IntentStore
from tests.integration.test_pcsc_card_reader import MASTER_KEY
from tests.integration.test_pcsc_card_reader import settings as reader_settings
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.pay_emulator_base import Script
from tests.support.pay_setup import PaySetup, pay_setup
from tests.support.pcscd import PcscDaemon, pcscd  # noqa: F401
from tests.support.virtual_card import VirtualCard
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import (
    READER_PIN,
    WECHAT_CODE,
    id_card_of,
    make_id,
    place_id_card,
    seed_overdue_fines,
    seed_reader,
)

pytestmark = pytest.mark.ui


class Steps:
    """The gateway's clock between queries: each ``sleep`` waits for the test to release it
    (``free``: not at all) and moves the monotonic time on by what was slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.free = True
        self._go = threading.Semaphore(0)

    def sleep(self, seconds: float) -> None:
        if not self.free:
            assert self._go.acquire(timeout=60)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def release(self) -> None:
        self._go.release()


@contextlib.contextmanager
def rewired(d: Any, setup: PaySetup, store: Store, steps: Steps,
            card_reader: Any = None) -> Iterator[DurablePaymentGateway]:
    """The running app's backend on ``store`` with the real gateway of ``setup`` (and the real
    card reader when given); the simulators are put back afterwards."""
    backend = d.app.ctx.backend
    reader = card_reader or d.parts.card_reader
    gateway = build_gateway(setup.settings(), store=store, clock=d.parts.clock, kiosk_no=1)
    assert isinstance(gateway, DurablePaymentGateway)
    gateway.wait_s, gateway.query_interval_s = 30.0, 2.0
    gateway.sleep, gateway.monotonic = steps.sleep, steps.monotonic
    saved = {k: getattr(backend, k) for k in ("store", "card_reader", "services", "payments")}
    saved_store = d.parts.store
    backend.store, backend.card_reader, d.parts.store = store, reader, store
    backend.services = build_services(d.parts.settings, store=store, clock=d.parts.clock,
                                      card_reader=reader, gateway=gateway)
    backend.payments = gateway
    unsubscribe = gateway.subscribe(d.app.bridge.deliver)
    backend._watch_payments(d.app.bridge)
    if card_reader is not None:
        stop_reader = card_reader.subscribe(d.app.bridge.deliver)
        card_reader.start()
    try:
        yield gateway
    finally:
        unsubscribe()
        if card_reader is not None:
            stop_reader()
            card_reader.stop()
        for k, v in saved.items():
            setattr(backend, k, v)
        d.parts.store = saved_store



def test_confirm_on_your_phone_counts_down_then_reverses_and_says_nothing_was_taken(
        kiosk_ui, tmp_path: Path) -> None:  # noqa: F811
    d = kiosk_ui
    steps = Steps()
    with pay_setup("wechat", tmp_path / "pay") as setup, \
            contextlib.closing(Store.open(tmp_path / "kiosk.db", kiosk_id="K01")) as store, \
            rewired(d, setup, store, steps):
        uid = b"\x04\x9a\x00\x01"
        reader_id = seed_reader(d, uid, name="孙悦")
        seed_overdue_fines(d, reader_id, [("Walden", 3)])
        books = setup.emulator.books
        books.script = Script("waiting", waits=None)  # the payer never confirms
        steps.free = False
        d.press(key="home.fees")
        d.tap_card(uid)
        d.press(key="fees.pay_selected")
        d.parts.scanner.scan(WECHAT_CODE)
        d.pump_until(lambda: "请在手机上确认支付" in d.texts(), "confirm on your phone", until_idle=False)
        assert "剩余 30 秒" in d.texts() and d.app.screen.busy
        steps.release()  # two seconds on, asked again: still waiting
        d.pump_until(lambda: "剩余 28 秒" in d.texts(), "the countdown moves", until_idle=False)
        steps.free = True
        steps.release()
        d.pump_until(lambda: not d.app.screen.busy and d.app.screen.error_key, "refused", until_idle=False)
        assert d.app.screen.error_key == "payment.reversed"
        assert "已撤销，未扣款" in d.texts()
        assert "请在手机上确认支付" not in d.texts()  # the payment step is back
        assert [t.state for t in books.trades.values()] == ["paid", "reversed"]
        assert [i.state for i in IntentStore(store).all()] == ["booked", "reversed"]
        assert store.count("fees", "reader_id = ? AND status = 'open'", (reader_id,)) == 1
        d.app.set_language("en")
        d.pump()
        assert "Nothing was taken" in d.texts()
        d.remove_card()


@pytest.mark.pcsc
def test_a_card_pulled_mid_write_is_refunded_and_the_screen_says_so(
        kiosk_ui, pcscd: PcscDaemon, tmp_path: Path) -> None:  # noqa: F811
    d = kiosk_ui
    reader = build_card_reader(reader_settings(), master_key=MASTER_KEY)
    card = VirtualCard(bytes.fromhex("04E2F001"), sector=1, library_access=False)  # blank
    with pay_setup("wechat", tmp_path / "pay") as setup, \
            contextlib.closing(Store.open(tmp_path / "kiosk.db", kiosk_id="K01")) as store, \
            rewired(d, setup, store, Steps(), card_reader=reader):
        try:
            d.pump_until(lambda: d.app.reader_state == "status.ok", "reader ready", until_idle=False)
            d.press(key="home.new_card")
            place_id_card(d, id_card_of("高飞", make_id(79)))
            d.press(key="nav.next")
            d.tap(d.find_all(key="category.option")[0])
            d.type_digits("13812345678")
            d.press(key="nav.next")
            d.type_digits(READER_PIN)
            d.press(key="nav.next")
            d.type_digits(READER_PIN)
            d.press(key="nav.next")
            d.scan(WECHAT_CODE)
            assert d.app.screen.step == 5, d.app.screen.error
            jobs_before = len(d.parts.printer.jobs)  # the session's printer served other tests
            card.fail_on(b"\xff\xd6\x00\x05")  # pulled after the first token block
            card.insert()
            d.pump_until(lambda: d.app.screen.error_key == "payment.refunded_after_failure",
                       "refund said", until_idle=False)
            card.join()
            books = setup.emulator.books
            (trade,) = books.trades.values()
            assert trade.state == "refunded" and trade.refunded == trade.amount > 0
            assert books.kept() == 0 and books.count("/secapi/pay/refund") == 1
            assert [i.state for i in IntentStore(store).all()] == ["refunded"]
            assert store.count("cards") == 0 and store.count("payments") == 0
            shown = d.texts()
            assert f"您支付的 {format_fen(trade.amount)} 已退回" in shown, shown
            # and the slip that says so: a refund receipt in the journal, printed
            d.pump_until(lambda: store.count("receipts") == 1, "refund slip", until_idle=False)
            slip = store.receipts(d.parts.clock.now().date())[0]
            assert (slip.kind, slip.total, slip.payment_method) == ("refund", trade.amount, "wechat")
            d.pump_until(lambda: any(j[0] == slip.receipt_no
                                      for j in d.parts.printer.jobs[jobs_before:]),
                       "slip printed", until_idle=False)
            printed = next(j[1] for j in d.parts.printer.jobs[jobs_before:]
                           if j[0] == slip.receipt_no)
            # the footer as printed, its wrapped lines joined (ESC/POS: FS & ... FS . per line)
            flat = re.sub(r"\x1c[&.]|[\x00-\x20]", "", printed.decode("gb18030", "replace"))
            assert "上述款项已原路退回" in flat, flat
        finally:
            card.remove()


def test_the_demo_says_on_the_status_strip_that_its_payments_are_simulated(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    assert d.parts.settings.kiosk.mode == "demo" and d.parts.settings.payment.type == "simulated"
    assert (d.app.payment_state, d.app.payment_level) == ("status.payment.simulated", "warn")
    strip = d.app.root.ids.strip
    assert "演示（模拟支付）" in "\n".join(str(getattr(w, "text", "")) for w in strip.walk())
    d.app.set_language("en")
    d.pump()
    assert "demo (simulated)" in "\n".join(str(getattr(w, "text", "")) for w in strip.walk())

"""UiBridge.run_async: results come back on the Kivy thread; a quick result awaited with
``wait_s`` comes back at once (one hand-over for a card tap, not two), a slow one through the
clock as before, and errors always reach ``on_error``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kivy.clock import Clock

from kiosk.ui.bridge import UiBridge


@pytest.fixture
def bridge() -> Any:
    b = UiBridge()
    yield b
    b.close()


class Calls:
    def __init__(self) -> None:
        self.done: list[Any] = []
        self.errors: list[BaseException] = []
        self.threads: set[int] = set()

    def on_done(self, value: Any) -> None:
        self.threads.add(threading.get_ident())
        self.done.append(value)

    def on_error(self, err: BaseException) -> None:
        self.threads.add(threading.get_ident())
        self.errors.append(err)


def pump_until(cond: Callable[[], bool], limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"not called back within {limit_s} s"
        Clock.tick()


def test_quick_work_awaited_is_called_back_before_run_async_returns(bridge: UiBridge) -> None:
    calls = Calls()
    bridge.run_async(lambda: 42, calls.on_done, calls.on_error, wait_s=5.0)
    assert calls.done == [42] and calls.errors == []
    assert calls.threads == {threading.get_ident()}
    assert not bridge.busy


def test_error_of_awaited_work_goes_to_on_error_even_a_timeout_error(bridge: UiBridge) -> None:
    calls = Calls()

    def fails() -> None:
        raise TimeoutError("the card reader timed out")

    bridge.run_async(fails, calls.on_done, calls.on_error, wait_s=5.0)
    assert calls.done == []
    assert [str(e) for e in calls.errors] == ["the card reader timed out"]
    assert not bridge.busy


def test_slow_work_falls_back_to_the_kivy_clock(bridge: UiBridge) -> None:
    calls = Calls()
    release = threading.Event()

    def slow() -> str:
        release.wait(5.0)
        return "read"

    bridge.run_async(slow, calls.on_done, calls.on_error, wait_s=0.01)
    assert calls.done == [] and bridge.busy
    release.set()
    pump_until(lambda: bool(calls.done))
    assert calls.done == ["read"] and calls.errors == []
    assert calls.threads == {threading.get_ident()}  # on the Kivy (main) thread, never the worker
    assert not bridge.busy


def test_without_wait_even_instant_work_comes_back_through_the_clock(bridge: UiBridge) -> None:
    calls = Calls()
    bridge.run_async(lambda: 1, calls.on_done, calls.on_error)
    assert calls.done == []
    pump_until(lambda: bool(calls.done))
    assert calls.done == [1] and not bridge.busy


def test_wait_is_ignored_off_the_kivy_thread(bridge: UiBridge) -> None:
    calls = Calls()
    caller = threading.Thread(
        target=lambda: bridge.run_async(lambda: 7, calls.on_done, calls.on_error, wait_s=5.0))
    caller.start()
    caller.join(60.0)
    assert not caller.is_alive()
    assert calls.done == []  # a device thread never runs UI callbacks itself
    pump_until(lambda: bool(calls.done))
    assert calls.done == [7] and calls.threads == {threading.get_ident()}


def test_device_events_reach_handlers_on_the_kivy_thread_in_order(bridge: UiBridge) -> None:
    from devices.card_reader import CardInserted, CardRemoved, ReaderStatus
    from devices.simulated_card_reader import SimulatedCardReader

    reader = SimulatedCardReader()
    reader.start()
    seen: list[tuple[str, int]] = []
    bridge.on(ReaderStatus, lambda e: seen.append((e.state, threading.get_ident())))
    bridge.on(CardInserted, lambda e: seen.append((e.uid.hex(), threading.get_ident())))
    bridge.on(CardRemoved, lambda e: seen.append(("removed", threading.get_ident())))
    detach = bridge.attach(reader)  # the current status comes at once, from the reader
    tapper = threading.Thread(target=lambda: [reader.tap(bytes([4, 1, 2, i])) for i in range(5)])
    tapper.start()
    tapper.join(60.0)
    assert not tapper.is_alive()
    pump_until(lambda: not bridge.busy and len(seen) == 10)
    assert [s for s, _ in seen] == ["ready", "04010200", "removed", "04010201", "removed",
                                    "04010202", "removed", "04010203", "removed", "04010204"]
    assert {t for _, t in seen} == {threading.get_ident()}
    detach()
    reader.remove()
    Clock.tick()
    assert len(seen) == 10


def test_a_handler_can_be_unregistered_and_a_failing_one_stops_no_other(bridge: UiBridge) -> None:
    from devices.scanner import Scanned

    seen: list[str] = []

    def broken(event: Scanned) -> None:
        raise RuntimeError("screen bug")

    bridge.on(Scanned, broken)
    first = bridge.on(Scanned, lambda e: seen.append(f"first:{e.text}"))
    bridge.on(Scanned, lambda e: seen.append(f"second:{e.text}"))
    bridge.deliver(Scanned("S1", "test"))
    pump_until(lambda: not bridge.busy and len(seen) == 2)
    first()
    bridge.deliver(Scanned("S2", "test"))
    pump_until(lambda: not bridge.busy and len(seen) == 3)
    assert seen == ["first:S1", "second:S1", "second:S2"]

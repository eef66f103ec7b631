"""library_core.observable.EventSource: ordered delivery, current state, unsubscribe, failing
subscribers; and that every device, the sync loop and the UI bridge use it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest

from library_core.observable import EventSource, Subscription

THREADS = 4
PER_THREAD = 300


class Counter(EventSource[int]):
    """A source with state: its value, told to each new subscriber."""

    def __init__(self) -> None:
        super().__init__(name="counter")
        self.value = 0

    def current_events(self) -> Sequence[int]:
        return (self.value,)

    def bump(self) -> None:
        with self._ordered():
            self.value += 1
            self.publish(self.value)


class Recorder:
    """A subscriber that notes every event and whether it was ever entered twice at once."""

    def __init__(self, pause_every: int = 0) -> None:
        self.seen: list[object] = []
        self.overlaps = 0
        self._inside = threading.Lock()
        self._pause_every = pause_every

    def __call__(self, event: object) -> None:
        if not self._inside.acquire(blocking=False):
            self.overlaps += 1
            self.seen.append(event)
            return
        try:
            self.seen.append(event)
            if self._pause_every and len(self.seen) % self._pause_every == 0:
                time.sleep(0.0005)  # widen the window another thread would enter through
        finally:
            self._inside.release()


def _publish_from_threads(source: EventSource[tuple[int, int]]) -> None:
    start = threading.Barrier(THREADS)

    def run(thread_no: int) -> None:
        start.wait()
        for i in range(PER_THREAD):
            source.publish((thread_no, i))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


def test_events_from_many_threads_reach_every_subscriber_in_one_order_never_concurrently() -> None:
    source: EventSource[tuple[int, int]] = EventSource(name="test")
    first, second = Recorder(pause_every=7), Recorder(pause_every=5)
    source.subscribe(first)
    source.subscribe(second)
    _publish_from_threads(source)
    assert first.overlaps == 0 and second.overlaps == 0
    assert len(first.seen) == THREADS * PER_THREAD
    assert first.seen == second.seen  # the same order for every subscriber
    for n in range(THREADS):  # each thread's events in the order it published them
        assert [e for e in first.seen if isinstance(e, tuple) and e[0] == n] == [
            (n, i) for i in range(PER_THREAD)
        ]


def test_a_new_subscriber_gets_the_current_state_first_and_then_every_change() -> None:
    counter = Counter()
    counter.bump()
    counter.bump()
    early = Recorder()
    counter.subscribe(early)
    assert early.seen == [2]
    counter.bump()
    assert early.seen == [2, 3]


def test_subscribing_while_another_thread_publishes_never_misses_or_repeats_a_change() -> None:
    counter = Counter()

    def bump() -> None:
        for _ in range(5000):
            counter.bump()

    thread = threading.Thread(target=bump)
    thread.start()
    late = [Recorder() for _ in range(20)]
    for recorder in late:
        counter.subscribe(recorder)
    thread.join(30)
    for recorder in late:
        values = [v for v in recorder.seen if isinstance(v, int)]
        # snapshot then every later change: consecutive values with no gap and no repeat
        assert values == list(range(values[0], values[0] + len(values)))
        assert values[-1] == counter.value


def test_unsubscribe_handle_stops_delivery_and_is_idempotent() -> None:
    source: EventSource[str] = EventSource()
    seen: list[str] = []
    handle = source.subscribe(seen.append)
    assert isinstance(handle, Subscription)
    source.publish("a")
    handle()
    handle.cancel()
    source.publish("b")
    assert seen == ["a"]
    assert source.subscriber_count == 0
    assert not handle.active


def test_a_subscriber_cancelled_during_a_delivery_is_not_called_by_it() -> None:
    source: EventSource[str] = EventSource()
    seen: list[str] = []
    handles: list[Subscription[str]] = []

    def first(event: str) -> None:
        seen.append(f"first:{event}")
        handles[1]()  # the second subscriber leaves while this event is being delivered

    handles.append(source.subscribe(first))
    handles.append(source.subscribe(lambda e: seen.append(f"second:{e}")))
    source.publish("x")
    assert seen == ["first:x"]


def test_a_subscriber_may_subscribe_from_inside_a_callback() -> None:
    source: EventSource[str] = EventSource()
    seen: list[str] = []

    def first(event: str) -> None:
        if event == "a":
            source.subscribe(lambda e: seen.append(f"new:{e}"))

    source.subscribe(first)
    source.publish("a")
    source.publish("b")
    assert seen == ["new:b"]


def test_a_failing_subscriber_is_logged_and_the_others_still_get_every_event(
        caplog: pytest.LogCaptureFixture) -> None:
    source: EventSource[int] = EventSource(name="flaky source")
    seen: list[int] = []

    def broken(event: int) -> None:
        raise RuntimeError(f"broken on {event}")

    source.subscribe(broken)
    source.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="library_core.observable"):
        source.publish(1)
        source.publish(2)
    assert seen == [1, 2]
    failures = [r for r in caplog.records if "flaky source" in r.getMessage()]
    assert len(failures) == 2 and failures[0].exc_info is not None


def test_a_failing_subscriber_on_its_first_state_does_not_stop_subscribe() -> None:
    counter = Counter()

    def broken(event: int) -> None:
        raise ValueError("no")

    handle = counter.subscribe(broken)
    assert handle.active and counter.subscriber_count == 1

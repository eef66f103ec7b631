"""SyncLoop's status subscribers (library_core.observable): current status at once, each new
one in order, an unsubscribe handle, a broken subscriber neither stops sync nor subscribe."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from library_core.errors import SyncError
from library_core.observable import EventSource
from server_client.sync import SyncLoop, SyncOffline, SyncReport, SyncStatus


class _Store:
    def __init__(self) -> None:
        self.pending = 3

    def pending_count(self) -> int:
        return self.pending

    def last_sync_at(self) -> dt.datetime | None:
        return None


class _Engine:
    """One class under test (SyncLoop); the engine answers what each round is told to."""

    def __init__(self) -> None:
        self.store = _Store()
        self.answers: list[BaseException | None] = []

    def sync_once(self) -> SyncReport:
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        self.store.pending = 0
        return SyncReport()


def _loop() -> tuple[SyncLoop, _Engine]:
    engine = _Engine()
    return SyncLoop(engine, interval_s=0.01), engine  # type: ignore[arg-type]


def test_a_subscriber_gets_the_current_status_then_each_round_and_can_unsubscribe() -> None:
    loop, engine = _loop()
    assert isinstance(loop, EventSource)
    seen: list[SyncStatus] = []
    unsubscribe = loop.subscribe(seen.append)
    assert [s.pending for s in seen] == [3]
    engine.answers = [SyncOffline("error.sync.offline", "refused")]
    loop.run_once()
    loop.run_once()
    assert [s.state for s in seen] == ["unknown", "offline", "online"]
    unsubscribe()
    loop.run_once()
    assert len(seen) == 3


def test_a_broken_subscriber_does_not_stop_subscribe_sync_or_the_others() -> None:
    loop, engine = _loop()

    def broken(status: SyncStatus) -> None:
        raise RuntimeError("listener bug")

    handle = loop.subscribe(broken)  # told the current status at once: it raises, and is logged
    seen: list[Any] = []
    loop.subscribe(seen.append)
    engine.answers = [SyncError("error.sync.gap", "gap")]
    assert loop.run_once().state == "refused"
    assert loop.run_once().state == "online"
    assert [s.state for s in seen] == ["unknown", "refused", "online"]
    handle()


def test_statuses_from_two_threads_reach_a_subscriber_one_at_a_time() -> None:
    loop, _engine = _loop()
    inside = threading.Lock()
    overlaps: list[SyncStatus] = []
    seen: list[SyncStatus] = []

    def subscriber(status: SyncStatus) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(status)
            return
        try:
            seen.append(status)
        finally:
            inside.release()

    loop.subscribe(subscriber)
    threads = [threading.Thread(target=lambda: [loop.run_once() for _ in range(100)])
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert overlaps == [] and len(seen) == 201
    assert seen[-1] == loop.status

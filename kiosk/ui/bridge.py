"""The one place where device, sync and background-work results cross onto the Kivy thread.

Device drivers call ``UiBridge.deliver(event)`` from their own threads (``attach(source)``
subscribes it to a ``library_core.observable`` source); the bridge queues the event and a Kivy
trigger hands every queued event, in arrival order, to the handlers registered for its type, on
the Kivy thread. The handlers of a type are subscribers of an ``EventSource`` (the one
event-source base): ``on`` returns the unsubscribe handle, a failing handler is logged and never
stops the others. ``run_async`` runs slow work (printing, card writes, HTTP, store writes) on a
worker thread and calls ``on_done`` / ``on_error`` back on the Kivy thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from library_core.observable import EventSource, Subscription

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class UiBridge:
    """Moves events and results onto the Kivy thread."""

    def __init__(self, *, max_workers: int = 2) -> None:
        from kivy.clock import Clock

        self._clock = Clock
        self._events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._handlers: dict[type, EventSource[Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="kiosk-ui-work")
        self._pending = 0
        self._trigger = Clock.create_trigger(self._drain, 0)
        self._main = threading.get_ident()
        self._closed = False

    # ---- events from devices and sync -------------------------------------------------------
    def on(self, event_type: type, handler: Handler) -> Subscription[Any]:
        """Call ``handler(event)`` on the Kivy thread for every delivered ``event_type``.

        Returns the handle that unregisters it.
        """
        with self._lock:
            source = self._handlers.get(event_type)
            if source is None:
                source = self._handlers[event_type] = EventSource(
                    name=f"UI handlers of {event_type.__name__}")
        return source.subscribe(handler)

    def attach(self, source: EventSource[Any]) -> Subscription[Any]:
        """Deliver every event of ``source`` (from its thread) to the handlers, on the Kivy thread.

        ``source`` tells its current state at once; returns the handle that detaches it.
        """
        return source.subscribe(self.deliver)

    def deliver(self, event: Any) -> None:
        """Queue an event from any thread; handlers run on the Kivy thread."""
        if self._closed:
            return
        self._events.put(event)
        self._trigger()

    def _drain(self, _dt: float = 0.0) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                sources = [s for t, s in self._handlers.items() if isinstance(event, t)]
            for source in sources:
                source.publish(event)  # a failing handler is logged, the others still run

    # ---- background work ---------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while background work or queued events are waiting (tests pump until False)."""
        return self._pending > 0 or not self._events.empty()

    def run_async(
        self,
        work: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        *,
        wait_s: float = 0.0,
    ) -> None:
        """Run ``work()`` on a worker thread; call back with its result or error on the Kivy thread.

        ``wait_s`` > 0 (called on the Kivy thread): wait that long for the work here; if it is
        done by then, call back at once, with no second hand-over to wait a frame for (a card
        read the screen cannot go on without). Slower work is called back as usual.
        """
        with self._lock:
            self._pending += 1

        def finish(fn: Callable[[Any], None], value: Any) -> None:
            try:
                fn(value)
            except Exception:
                log.exception("UI callback failed")
            finally:
                with self._lock:
                    self._pending -= 1

        def settle(future: Future[Any]) -> None:
            if future.cancelled():  # the bridge closed first: nobody to tell
                with self._lock:
                    self._pending -= 1
                return
            err = future.exception()
            if err is not None:  # handed to the UI, which shows a message
                log.info("background work failed: %r", err)
                finish(on_error, err)
            else:
                finish(on_done, future.result())

        future = self._pool.submit(work)
        if wait_s > 0 and threading.get_ident() == self._main:
            done, _ = wait([future], timeout=wait_s)
            if done:
                settle(future)
                return
        future.add_done_callback(lambda f: self._clock.schedule_once(lambda _dt: settle(f), 0))

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` on the Kivy thread soon (from any thread)."""
        self._clock.schedule_once(lambda _dt: fn(), 0)

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=False)

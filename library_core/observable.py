"""One event-source base for device drivers, the sync loop and the UI bridge.

``EventSource[E]`` keeps a list of subscribers and delivers events of type ``E`` to them:

- in order: events are delivered one at a time, in the order they were published, to every
  subscriber; no subscriber is ever called concurrently with itself (a publishing thread holds
  the source's order lock while it delivers, so a second thread waits its turn);
- the current state at once: ``subscribe`` delivers ``current_events()`` (the driver's status,
  the card on the reader...) to the new subscriber before any later event;
- ``subscribe`` returns a ``Subscription``: call it (or ``cancel()``) to unsubscribe; a cancelled
  subscriber is not called again, even by a delivery already under way;
- the subscriber list is copied under its lock and called outside it, so a subscriber may
  subscribe or unsubscribe from inside a callback;
- a subscriber that raises is logged and never stops the others or the publisher.

Events arrive on the publisher's thread (a monitor thread, the sync thread): callbacks must
return quickly, and a UI hands events to its own thread itself (``kiosk.ui.bridge``).
A subclass that keeps state updates it and publishes inside ``with self._ordered():`` so a new
subscriber's snapshot and the events after it never cross.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class Subscription(Generic[E]):
    """One subscriber of an ``EventSource``; calling it unsubscribes (idempotent)."""

    __slots__ = ("callback", "_active", "_source")

    def __init__(self, source: EventSource[E], callback: Callable[[E], None]) -> None:
        self.callback = callback
        self._active = True
        self._source = source

    @property
    def active(self) -> bool:
        return self._active

    def cancel(self) -> None:
        """Stop delivering to this subscriber; safe to call more than once, from any thread."""
        self._active = False
        self._source._remove(self)

    def __call__(self) -> None:
        self.cancel()


class EventSource(Generic[E]):
    """Subscribers of one kind of event, delivered in order (see the module docstring)."""

    def __init__(self, *, name: str = "") -> None:
        self._source_name = name or type(self).__name__
        self._subscriptions: list[Subscription[E]] = []
        self._subscriptions_lock = threading.Lock()
        self._order_lock = threading.RLock()

    # ---- for subclasses ----------------------------------------------------------------------

    def current_events(self) -> Sequence[E]:
        """The events that tell a new subscriber the current state (none by default)."""
        return ()

    @contextmanager
    def _ordered(self) -> Iterator[None]:
        """Hold the order lock: update state and publish without a subscribe in between."""
        with self._order_lock:
            yield

    # ---- the public side -----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[E], None]) -> Subscription[E]:
        """Deliver every later event to ``callback``, after the current state at once.

        Returns the subscription; calling it unsubscribes.
        """
        subscription = Subscription(self, callback)
        with self._order_lock:
            with self._subscriptions_lock:
                self._subscriptions.append(subscription)
            for event in self.current_events():
                self._deliver(subscription, event)
        return subscription

    @property
    def subscriber_count(self) -> int:
        with self._subscriptions_lock:
            return len(self._subscriptions)

    def publish(self, event: E) -> None:
        """Deliver ``event`` to every subscriber, in order with every other event of this source."""
        with self._order_lock:
            with self._subscriptions_lock:
                subscriptions = list(self._subscriptions)
            for subscription in subscriptions:
                self._deliver(subscription, event)

    # ---- internals -------------------------------------------------------------------------------

    def _remove(self, subscription: Subscription[E]) -> None:
        with self._subscriptions_lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def _deliver(self, subscription: Subscription[E], event: E) -> None:
        if not subscription.active:
            return
        try:
            subscription.callback(event)
        except Exception:  # a broken subscriber must not stop the others or the publisher
            log.exception("%s subscriber %r failed on %r", self._source_name,
                          subscription.callback, event)

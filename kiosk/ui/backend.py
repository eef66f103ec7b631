"""The UI's one door to the use cases and devices (a thin adapter; no business rules here).

Screens call these methods off the Kivy thread (``FlowScreen.work``); ``start`` wires device
events into the bridge. Results are the services' own dataclasses, wrapped in ``Outcome`` when
a receipt was made and printed (or not).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from kiosk.ui.flows.cards import CardFlows
from kiosk.ui.flows.counter import CounterFlows
from kiosk.ui.flows.id_card import IdCardFlows
from kiosk.ui.flows.ils_fees import IlsFeeFlows
from kiosk.ui.flows.results import TappedCard
from kiosk.ui.flows.staff import StaffFlows
from kiosk.ui.ils_status import show_ils_link
from library_core.errors import KioskError

log = logging.getLogger(__name__)


class Backend(CardFlows, CounterFlows, StaffFlows, IdCardFlows, IlsFeeFlows):
    """Adapter from screens to ``kiosk.services`` and ``devices``: the Kivy-thread side here
    (wiring device events, status strip, closing time), the per-flow helpers in
    ``kiosk.ui.flows``."""

    def __init__(self, *, settings: Any, clock: Any, store: Any, services: dict[str, Any],
                 card_reader: Any, scanner: Any, printer: Any, parser: Any,
                 sync_status: Callable[[], Any] | None = None,
                 wedge: Any = None, id_card_reader: Any = None) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.services = services
        self.card_reader = card_reader
        self.scanner = scanner
        self.printer = printer
        self.parser = parser
        self.sync_status = sync_status
        self.wedge = wedge
        self.id_card_reader = id_card_reader  # devices.id_card.IdCardReader, or None
        self.app: Any = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._closing_event: Any = None
        self.closing_at: dt.datetime | None = None  # when open visits are next closed

    # ---- payments: the countdown while a payment waits; the strip names the gateway -------
    payments: Any = None  # the payment gateway (``build_app`` sets it)

    def _watch_payments(self, bridge: Any) -> None:
        from kiosk.payments.lifecycle import PaymentProgress

        subscribe = getattr(self.payments, "subscribe", None)
        if subscribe is not None:
            bridge.on(PaymentProgress, self._on_payment_progress)
            self._unsubscribe.append(subscribe(bridge.deliver))
        kind = str(getattr(getattr(self.settings, "payment", None), "type", ""))
        state = {"simulated": "status.payment.simulated", "none": "status.payment.none"}
        self.app.payment_state = state.get(kind, "status.ok")
        self.app.payment_level = "warn" if kind in state else "ok"

    def print_refund_slip(self, params: dict[str, Any], language: str) -> Any:
        """The slip after a failed later step whose charge was refunded (off the UI thread)."""
        from kiosk.payments.slip import refund_slip
        from kiosk.services.config import ServicesConfig

        receipt = refund_slip(self.store.repositories(), self.clock,
                              ServicesConfig.from_settings(self.settings),
                              amount=int(params["refunded_fen"]),
                              method=str(params.get("refunded_method", "")),
                              reference=str(params.get("refunded_ref", "")))
        return self.print(receipt, language, [])

    def _on_payment_progress(self, progress: Any) -> None:
        sm = getattr(self.app, "sm", None)
        show = getattr(sm.current_screen if sm is not None else None, "show_payment_progress", None)
        if show is not None:
            show(progress)

    # ---- wiring ----------------------------------------------------------------------------
    def start(self, app: Any) -> None:
        """Subscribe device events to the bridge and start polling status (Kivy thread)."""
        from kivy.clock import Clock

        from devices.card_reader import CardInserted, CardRemoved, ReaderStatus
        from devices.scanner import Scanned, ScannerStatus

        self.app = app
        bridge = app.bridge
        bridge.on(CardInserted, self._on_card_inserted)
        bridge.on(CardRemoved, lambda _e: None)
        bridge.on(ReaderStatus, self._on_reader_status)
        bridge.on(Scanned, self._on_scanned)
        bridge.on(ScannerStatus, lambda _e: None)
        self._watch_payments(bridge)
        for device in (self.card_reader, self.scanner, self.wedge):
            if device is None:
                continue
            self._unsubscribe.append(device.subscribe(bridge.deliver))
            device.start()
        if self.wedge is not None:
            app.ctx.key_sink = self._feed_wedge
        self.wire_id_card(app)
        st = self.card_reader.status
        self._on_reader_status(st() if callable(st) else st)
        Clock.schedule_interval(lambda _dt: self.poll_status(), 2.0)
        self.poll_status()
        self.close_expired_visits()  # a day already past (the kiosk was off at closing)
        self.schedule_closing()

    # ---- closing time: open visits are closed by the system -------------------------------
    def _next_closing(self, now: dt.datetime) -> dt.datetime:
        closing = dt.time.fromisoformat(self.settings.kiosk.closing_time)
        today = dt.datetime.combine(now.date(), closing, tzinfo=now.tzinfo)
        return today if now < today else today + dt.timedelta(days=1)

    def schedule_closing(self, at: dt.datetime | None = None) -> None:
        """Put a Kivy Clock event on the next closing time by the kiosk's clock (Kivy thread)."""
        from kivy.clock import Clock

        if self._closing_event is not None:
            self._closing_event.cancel()
        now = self.clock.now()
        self.closing_at = at or self._next_closing(now)
        delay = max(0.0, (self.closing_at - now).total_seconds())
        self._closing_event = Clock.schedule_once(self._at_closing, delay)

    def _at_closing(self, _dt: float) -> None:
        if self.closing_at is not None and self.clock.now() < self.closing_at:  # woke early by the kiosk's clock: wait the rest
            self.schedule_closing(self.closing_at)
            return
        self.close_expired_visits()
        self.schedule_closing()  # the next day's closing

    def close_expired_visits(self) -> None:
        """Close (off the Kivy thread) every visit whose pass ran out; audited as ``system``."""
        visitors = self.services.get("visitors")
        if visitors is None or self.app is None:
            return
        self.app.bridge.run_async(
            visitors.auto_close, lambda n: log.info("closing: %d open visits closed", n),
            lambda err: log.error("closing open visits failed: %r", err))

    def stop(self) -> None:
        if self._closing_event is not None:
            self._closing_event.cancel()
            self._closing_event = None
        for unsub in self._unsubscribe:
            unsub()
        for device in (self.card_reader, self.scanner, self.wedge):
            if device is not None:
                try:
                    device.stop()
                except Exception:
                    log.exception("stopping %r", device)
        self.stop_id_card()

    def _feed_wedge(self, key: str, ts: float, frame: int) -> None:
        self.wedge.feed_key(key, ts, frame)

    def poll_status(self) -> None:
        """Ask printer and sync for their status off the Kivy thread; show it on the strip."""
        def work() -> tuple[Any, Any]:
            try:
                pst = self.printer.status()
            except Exception as err:  # a printer that cannot be asked is offline
                pst = err
            sync = self.sync_status() if self.sync_status is not None else None
            return pst, sync

        self.app.bridge.run_async(work, self._show_status, lambda err: log.warning("status: %s", err))
        show_ils_link(self.app, self.services.get("ils_runtime"))  # no I/O: the link state

    def _show_status(self, result: tuple[Any, Any]) -> None:
        app = self.app
        pst, sync = result
        if isinstance(pst, BaseException) or not getattr(pst, "online", False):
            app.printer_state, app.printer_level = "status.printer.offline", "bad"
        elif pst.paper == "out":
            app.printer_state, app.printer_level = "status.printer.paper_out", "bad"
        elif getattr(pst, "cover_open", False):
            app.printer_state, app.printer_level = "status.printer.cover_open", "bad"
        elif pst.paper == "near_end":
            app.printer_state, app.printer_level = "status.printer.paper_low", "warn"
        else:
            app.printer_state, app.printer_level = "status.ok", "ok"
        if sync is None:
            app.server_state, app.server_level = "status.unknown", "unknown"
        else:
            online = bool(getattr(sync, "online", False))
            state = str(getattr(sync, "state", ""))
            if online:
                app.server_state = "status.server.online"
            elif state in ("revoked", "refused"):  # reached, but not accepted: say why
                app.server_state = f"status.server.{state}"
            else:
                app.server_state = "status.server.offline"
            app.server_level = "ok" if online else "bad"
            app.queued = int(getattr(sync, "pending", getattr(sync, "queued", 0)) or 0)
        if sync is None and self.store is not None:
            with contextlib.suppress(Exception):
                app.queued = int(self.store.pending_count())

    def _on_reader_status(self, status: Any) -> None:
        ready = bool(getattr(status, "ready", False))
        self.app.reader_state = "status.ok" if ready else "status.reader.unavailable"
        self.app.reader_level = "ok" if ready else "bad"

    def _on_card_inserted(self, event: Any) -> None:
        app = self.app
        app.touch_activity()
        if app.screen.on_card_inserted(event):
            return

        def done(card: TappedCard) -> None:
            if card.summary is None:
                return
            if not app.screen.on_card(card):
                log.info("card tapped on %s: not used there", app.sm.current)

        def failed(err: BaseException) -> None:
            if isinstance(err, KioskError):
                if not app.screen.on_card_error(err):
                    app.show_message(err.message_id, **err.params)
            else:
                log.error("reading card failed: %r", err)

        # the screen cannot go on without the card: wait up to 0.1 s for the read here, so a
        # quick read is shown in this frame, not after a second hand-over to the Kivy thread
        app.bridge.run_async(lambda: self.read_card(event.uid), done, failed, wait_s=0.1)

    def _on_scanned(self, event: Any) -> None:
        from library_core.scan import ScanRefused

        app = self.app
        app.touch_activity()
        result = self.parser.parse(event.text)
        if isinstance(result, ScanRefused):
            if hasattr(app.screen, "refuse"):
                app.screen.refuse(result.message_id)
            else:
                app.show_message(result.message_id)
            return
        if not app.screen.on_scan(result):
            app.show_message("scan.not_here")

"""Base screens: ``BaseScreen`` (activate / reset / device hooks) and ``FlowScreen`` (a step
indicator, a body that each step fills, back and cancel on every step, a refusal message)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.ui.heap import collect_after_step
from kiosk.ui.widgets import DigitEntry, KButton, KLabel, NameEntry
from library_core.errors import KioskError

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_name("base.kv")))

Line = str | tuple[str, dict[str, Any]]  # raw text, or (message id, params)


def label_for(line: Line, **kw: Any) -> KLabel:
    if isinstance(line, tuple):
        return KLabel(key=line[0], params=line[1], **kw)
    return KLabel(raw=line, **kw)


class BaseScreen(Screen):
    """A screen the App can activate, reset (session wiped) and hand device events to."""

    @property
    def app(self) -> Any:
        return App.get_running_app()

    @property
    def backend(self) -> Any:
        return self.app.ctx.backend

    def activate(self, **_kw: Any) -> None:
        pass

    def deactivate(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def has_session(self) -> bool:
        return False

    def on_card(self, card: Any) -> bool:
        """A reader card (already read and checked) was tapped; True if handled."""
        return False

    def on_card_error(self, err: KioskError) -> bool:
        return False

    def on_card_inserted(self, event: Any) -> bool:
        return False

    def on_scan(self, scan: Any) -> bool:
        """A parsed scan arrived; True if handled."""
        return False


class FlowScreen(BaseScreen):
    """A flow: ``steps`` (message ids), ``step`` (index), ``error`` (a refusal shown in red)."""

    title_key = StringProperty("")
    steps = ListProperty([])
    step = NumericProperty(0)
    error_key = StringProperty("")
    error_params = ObjectProperty({})
    busy = BooleanProperty(False)
    can_back = BooleanProperty(True)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._history: list[Callable[[], object]] = []
        self._current: Callable[[], object] | None = None

    # ---- flow frame ------------------------------------------------------------------------
    def has_session(self) -> bool:
        return True

    def reset(self) -> None:
        self.waiting_for = ""
        self._payment_cb = None
        self._blank_cb = None
        self._history.clear()
        self._current = None
        self.clear_error()
        self.busy = False
        self.step = 0
        self.ids.body.clear_widgets()
        self.wipe()

    def wipe(self) -> None:
        """Forget every personal detail of the session (subclasses clear their fields)."""

    def activate(self, **kw: Any) -> None:
        self.reset()
        self.start(**kw)

    def start(self, **_kw: Any) -> None:
        raise NotImplementedError

    def goto(self, show: Callable[[], object], step: int | None = None, *, remember: bool = True) -> None:
        """Show a step (``show`` fills the body); back returns to the step shown before."""
        if remember and self._current is not None:
            self._history.append(self._current)
        self._current = show
        self.clear_error()
        self.waiting_for = ""
        if step is not None:
            self.step = step
        self.ids.body.clear_widgets()
        show()
        collect_after_step()

    def back(self) -> None:
        if self.busy:
            return
        if not self._history:
            self.app.home()
            return
        show = self._history.pop()
        self._current = None
        self.goto(show, remember=False)
        self._current = show

    def cancel(self) -> None:
        if self.busy:
            return
        self.app.home()

    def refuse(self, err: BaseException | str, **params: Any) -> None:
        """Show a refusal: a KioskError's message id, or a message id."""
        self.busy = False
        if isinstance(err, KioskError):
            key, params = err.message_id, dict(err.params)
        elif isinstance(err, str):
            key = err
        else:
            log.exception("unexpected error in %s", self.name, exc_info=err)
            key = "error.generic"
        if key and "refunded_text" in params:  # a later step failed: the money went back
            if "refunded_fen" in params:  # and the reader gets a slip that says so
                slip, lang = dict(params), self.app.lang
                self.app.bridge.run_async(lambda: self.backend.print_refund_slip(slip, lang),
                                          lambda _outcome: None,
                                          lambda e: log.warning("refund slip not printed: %s", e))
            params = {"reason": self.app.t(key, **params), "amount": params["refunded_text"]}
            key = "payment.refunded_after_failure"
        if self.payment_progress is not None:  # the countdown gives way to the step again
            self.payment_progress = None
            if self._current is not None:
                self.ids.body.clear_widgets()
                self._current()
        self.error_params = params
        self.error_key = key
        self.app.prompt(key)  # every refusal spoken (senior mode)

    @property
    def error(self) -> str:
        """The refusal shown now, in the current language ('' when none)."""
        return self.app.t(self.error_key, **self.error_params) if self.error_key else ""

    payment_progress: Any = None  # the last ``PaymentProgress`` shown (None: no countdown)

    def show_payment_progress(self, progress: Any) -> None:
        """While a payment is open: "confirm on your phone" (or "checking", "cancelling") with
        the seconds left; the refusal or the receipt that follows replaces it."""
        if progress.state == "done" or not self.busy:
            return
        key = {"waiting": "pay.confirm_on_phone",
               "reversing": "pay.reversing"}.get(progress.state, "pay.checking")
        self.payment_progress = progress
        self.ids.body.clear_widgets()
        self.show_info((key, {}), [("pay.seconds_left", {"seconds": progress.seconds_left})])

    def clear_error(self) -> None:
        self.error_key = ""
        self.error_params = {}

    def work(self, fn: Callable[[], Any], done: Callable[[Any], None],
             failed: Callable[[BaseException], None] | None = None) -> None:
        """Run ``fn`` off the Kivy thread; ``done(result)`` or a refusal on the Kivy thread."""
        self.busy = True
        self.clear_error()

        def ok(result: Any) -> None:
            self.busy = False
            done(result)

        def bad(err: BaseException) -> None:
            self.busy = False
            (failed or self.refuse)(err)

        self.app.bridge.run_async(fn, ok, bad)

    # ---- payment and the card on the reader ------------------------------------------------
    def ask_payment(self, amount: int, on_tender: Callable[[Any], None], *,
                    lines: Sequence[Line] = ()) -> None:
        """Show the amount; a scanned payment code (or cash, in staff mode) calls ``on_tender``."""
        from library_core.money import format_fen

        self._payment_cb = on_tender
        actions: list[tuple[str, str, Callable[[], None]]] = []
        if self.app.staff is not None:
            actions.append(("pay.cash", "ok", lambda: on_tender(self.backend.cash_tender(self.app.staff))))
        self.show_info(("pay.amount", {"amount": format_fen(amount)}),
                       [*lines, ("pay.scan_code", {})], actions)
        self.app.prompt("pay.scan_code")
        self.waiting_for = "payment"

    waiting_for = StringProperty("")
    _payment_cb: Callable[[Any], None] | None = None

    def on_scan(self, scan: Any) -> bool:
        if self.waiting_for == "payment" and not self.busy:
            if getattr(scan, "kind", "") != "payment_code":
                self.refuse("pay.not_a_code")
                return True
            cb = self._payment_cb
            if cb is not None:
                cb(self.backend.code_tender(scan.value))
            return True
        return self.on_flow_scan(scan)

    def on_flow_scan(self, scan: Any) -> bool:
        return False

    def wait_for_blank_card(self, on_card: Callable[[Any], None]) -> None:
        """Ask for a blank card on the reader; ``on_card(event)`` when one is placed."""
        self._blank_cb = on_card
        self.show_info(("card.place_blank", {}), [("card.place_blank_hint", {})])
        self.waiting_for = "blank_card"

    _blank_cb: Callable[[Any], None] | None = None

    def on_card_inserted(self, event: Any) -> bool:
        """A raw card insertion; True when this step wants the card as it is (a blank card)."""
        if self.waiting_for == "blank_card" and not self.busy and self._blank_cb is not None:
            self._blank_cb(event)
            return True
        return False

    def finish(self, outcome: Any, title_key: str) -> None:
        """Show the receipt screen for a finished transaction."""
        self.waiting_for = ""
        self.app.go("receipt", outcome=outcome, title_key=title_key)
        self.app.prompt(title_key)

    # ---- step builders ---------------------------------------------------------------------
    @property
    def body(self) -> Any:
        return self.ids.body

    def say(self, line: Line) -> None:
        """Speak a step's instruction: a message id without parameters (a prompt is rendered
        once, at set-up; raw text and filled-in messages have none)."""
        if isinstance(line, tuple) and not line[1]:
            self.app.prompt(line[0])

    def two_columns(self) -> tuple[BoxLayout, BoxLayout]:
        row = BoxLayout(spacing=dp(24))
        left = BoxLayout(orientation="vertical", spacing=dp(14))
        right = BoxLayout(orientation="vertical", spacing=dp(14))
        row.add_widget(left)
        row.add_widget(right)
        self.body.add_widget(row)
        return left, right

    def ask_phone(self, form: dict[str, Any], then: Callable[[], object], then_step: int) -> None:
        """The mobile-number step: keypad, validation (refused in place), then ``then``."""

        def got(value: str) -> None:
            try:
                form["phone"] = self.backend.validate_phone(value)
            except KioskError as err:
                self.refuse(err)
                return
            self.goto(then, then_step)

        self.ask_digits("field.phone", mode="phone", max_len=11, min_len=11, on_ok=got)

    def ask_digits(self, label_key: str, *, mode: str, max_len: int, min_len: int,
                   on_ok: Callable[[str], None], hint: Line | None = None, value: str = "",
                   ok_key: str = "nav.next") -> DigitEntry:
        left, right = self.two_columns()
        self.app.prompt(label_key)
        entry = DigitEntry(label_key=label_key, mode=mode, max_len=max_len, value=value)
        pad = entry.ids.pad.__self__  # a strong reference: ids are weak proxies
        entry.remove_widget(pad)
        left.add_widget(entry)
        if hint is not None:
            left.add_widget(label_for(hint, color=(0.25, 0.27, 0.3, 1)))
        ok = KButton(key=ok_key, kind="primary")
        ok.bind(on_release=lambda *_: on_ok(entry.value) if len(entry.value) >= min_len else None)
        entry.bind(value=lambda *_: setattr(ok, "disabled", len(entry.value) < min_len))
        ok.disabled = len(entry.value) < min_len
        left.add_widget(ok)
        left.add_widget(Widget())
        right.add_widget(pad)
        right.add_widget(Widget())
        self.entry = entry
        self.ok_button = ok
        return entry

    def ask_name(self, on_ok: Callable[[str], None], value: str = "") -> NameEntry:
        box = BoxLayout(orientation="vertical", spacing=dp(12))
        self.app.prompt("field.name")
        entry = NameEntry(value=value)
        box.add_widget(entry)
        ok = KButton(key="nav.next", kind="primary", size_hint_x=None, width=dp(200), height=dp(72))
        box.remove_widget(entry)
        ok.bind(on_release=lambda *_: on_ok(entry.value.strip()) if entry.value.strip() else None)
        entry.bind(value=lambda *_: setattr(ok, "disabled", not entry.value.strip()))
        ok.disabled = not entry.value.strip()
        entry.ids.row.add_widget(ok)
        box.add_widget(entry)
        box.add_widget(Widget())
        self.body.add_widget(box)
        self.entry = entry
        self.ok_button = ok
        return entry

    def ask_choice(self, prompt: Line, options: Sequence[tuple[Line, Any]],
                   on_pick: Callable[[Any], None], *, info: Sequence[Line] = (),
                   cols: int = 2) -> list[KButton]:
        from kivy.uix.gridlayout import GridLayout

        box = BoxLayout(orientation="vertical", spacing=dp(14))
        self.say(prompt)
        if self.app.senior:
            cols = 1  # fewer items per screen: one option a row, across the screen
        box.add_widget(label_for(prompt, font_size=dp(34)))
        for line in info:
            box.add_widget(label_for(line))
        grid = GridLayout(cols=cols, spacing=dp(14), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        buttons = []
        for label, value in options:
            if isinstance(label, tuple):
                btn = KButton(key=label[0], params=label[1], kind="primary", height=dp(96))
            else:
                btn = KButton(raw=label, kind="primary", height=dp(96))
            btn.choice = value
            btn.bind(on_release=lambda b: on_pick(b.choice))
            grid.add_widget(btn)
            buttons.append(btn)
        box.add_widget(grid)
        box.add_widget(Widget())
        self.body.add_widget(box)
        self.choices = buttons
        return buttons

    def show_info(self, title: Line, lines: Sequence[Line],
                  actions: Sequence[tuple[str, str, Callable[[], None]]] = ()) -> list[KButton]:
        from kivy.uix.scrollview import ScrollView

        box = BoxLayout(orientation="vertical", spacing=dp(12))
        self.say(title)
        box.add_widget(label_for(title, font_size=dp(34)))
        scroll = ScrollView(do_scroll_x=False)
        inner = BoxLayout(orientation="vertical", spacing=dp(8), size_hint_y=None)
        inner.bind(minimum_height=inner.setter("height"))
        for line in lines:
            inner.add_widget(label_for(line))
        scroll.add_widget(inner)
        # senior mode: the actions in a column beside the lines, which keep the full height
        senior = bool(self.app.senior and actions)
        row = BoxLayout(orientation="vertical" if senior else "horizontal", spacing=dp(14),
                        size_hint=(0.34, 1) if senior else (1, None), height=dp(100))
        buttons = []
        for key, kind, fn in actions:
            btn = KButton(key=key, kind=kind, height=dp(96))
            btn.bind(on_release=lambda _b, f=fn: f())
            row.add_widget(btn)
            buttons.append(btn)
        if senior:
            row.add_widget(Widget())
            beside = BoxLayout(spacing=dp(20))
            beside.add_widget(scroll)
            beside.add_widget(row)
            box.add_widget(beside)
        else:
            box.add_widget(scroll)
            if actions:
                box.add_widget(row)
        self.body.add_widget(box)
        self.info_lines = inner
        self.actions = buttons
        return buttons


class CardFlowScreen(FlowScreen):
    """A flow that starts from a tapped reader card (renewal, fees): the tap step, the card
    hand-over and its refusal are the same; subclasses say what a tapped card leads to."""

    def start(self, card: Any = None, **_kw: Any) -> None:
        if card is not None:
            self.card_tapped(card)
        else:
            self.goto(self.show_tap, 0)

    def show_tap(self) -> None:
        self.step = 0
        self.show_info(("card.tap", {}), [("card.tap_hint", {})])
        self.waiting_for = "card"

    def on_card(self, card: Any) -> bool:
        if self.waiting_for != "card" or self.busy:
            return False
        self.card_tapped(card)
        return True

    def on_card_error(self, err: KioskError) -> bool:
        if self.waiting_for != "card":
            return False
        self.refuse(err)
        return True

    def card_tapped(self, card: Any) -> None:
        raise NotImplementedError  # abstract (Kivy's metaclass rules out abc.ABC here)

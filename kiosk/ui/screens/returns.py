"""Self-service returns (自助还书): scan items one after another, each checked in with its title;
unknown items go to the desk; a receipt lists every item and any fine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from kiosk.ui.screens.base import FlowScreen
from kiosk.ui.widgets import KButton, KLabel
from library_core.money import format_fen

Builder.load_file(str(Path(__file__).with_name("returns.kv")))

STEPS = ["step.scan_items", "step.receipt"]


class ReturnsScreen(FlowScreen):
    def wipe(self) -> None:
        self.session: Any = None
        self.results: list[Any] = []

    def start(self, first_scan: Any = None, **_kw: Any) -> None:
        self.steps = STEPS
        self.session = self.backend.start_returns()
        self.goto(self.show_scanning, 0)
        if first_scan is not None:
            self.on_flow_scan(first_scan)

    def show_scanning(self) -> None:
        self.step = 0
        self.waiting_for = "items"
        box = BoxLayout(orientation="vertical", spacing=dp(10))
        box.add_widget(KLabel(key="returns.scan_prompt", font_size=dp(34)))
        scroll = ScrollView(do_scroll_x=False)
        self.list_box = BoxLayout(orientation="vertical", spacing=dp(6), size_hint_y=None)
        self.list_box.bind(minimum_height=self.list_box.setter("height"))
        scroll.add_widget(self.list_box)
        box.add_widget(scroll)
        self.finish_button = KButton(key="returns.finish", kind="ok", size_hint_x=None, width=dp(360))
        self.finish_button.bind(on_release=lambda *_: self._finish())
        self.finish_button.disabled = not self.results
        box.add_widget(self.finish_button)
        self.body.add_widget(box)
        for result in self.results:
            self._add_line(result)

    def _add_line(self, result: Any) -> None:
        params = {"title": result.title or result.barcode, "barcode": result.barcode,
                  "fine": format_fen(result.fine or 0), "message": getattr(result, "message", "")}
        label = KLabel(key=f"returns.line.{result.status}", params=params)
        label.color = {"ok": (0.05, 0.45, 0.18, 1), "overdue": (0.6, 0.3, 0, 1), "hold": (0.05, 0.28, 0.63, 1)}.get(
            result.status, (0.7, 0.07, 0.07, 1))
        self.list_box.add_widget(label)

    def on_flow_scan(self, scan: Any) -> bool:
        if self.waiting_for != "items":
            return False
        if getattr(scan, "kind", "") != "item":
            self.refuse("returns.not_an_item")
            return True
        session = self.session

        def done(result: Any) -> None:
            self.results.append(result)
            self._add_line(result)
            self.finish_button.disabled = False

        self.work(lambda: self.backend.return_item(session, scan.value), done)
        return True

    def _finish(self) -> None:
        session, lang = self.session, self.app.lang
        self.waiting_for = ""
        self.work(lambda: self.backend.finish_returns(session, language=lang),
                  lambda outcome: self.finish(outcome, "returns.done"))

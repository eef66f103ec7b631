"""Fees (缴费): tap card, itemised fees, pay all or some, payment code (or cash in staff mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from kiosk.ui.screens.base import CardFlowScreen
from kiosk.ui.screens.ils_fees import IlsFeeSteps
from kiosk.ui.widgets import KButton, KLabel
from library_core.money import format_fen

Builder.load_file(str(Path(__file__).with_name("fees.kv")))

STEPS = ["step.tap_card", "step.fees", "step.payment"]


class FeesScreen(IlsFeeSteps, CardFlowScreen):
    """Our own fees; beside a library ILS its fines instead (``IlsFeeSteps``)."""

    def wipe(self) -> None:
        self.card: Any = None
        self.fees: list[Any] = []
        self.selected: set[str] = set()
        self.ils_patron = None

    def show_tap(self) -> None:
        if self.backend.has_ils():
            self.show_ils_tap()
        else:
            super().show_tap()

    def start(self, card: Any = None, **kw: Any) -> None:
        self.steps = STEPS
        super().start(card, **kw)

    def card_tapped(self, card: Any) -> None:
        self.card = card
        if self.backend.has_ils():
            self.ils_card_tapped(card)
            return

        def done(fees: list[Any]) -> None:
            self.fees = fees
            self.selected = {f.fee_id for f in fees}
            self.goto(self.show_fees, 1)

        self.work(lambda: self.backend.open_fees(card), done)

    def total(self) -> int:
        return sum(f.due for f in self.fees if f.fee_id in self.selected)

    def show_fees(self) -> None:
        self.step = 1
        box = BoxLayout(orientation="vertical", spacing=dp(10))
        box.add_widget(KLabel(key="fees.title", params={"name": self.card.name_masked}, font_size=dp(34)))
        if not self.fees:
            box.add_widget(KLabel(key="fees.none"))
            box.add_widget(BoxLayout())
            self.body.add_widget(box)
            return
        scroll = ScrollView(do_scroll_x=False)
        inner = BoxLayout(orientation="vertical", spacing=dp(8), size_hint_y=None)
        inner.bind(minimum_height=inner.setter("height"))
        self.fee_buttons = {}
        for fee in self.fees:
            btn = KButton(kind="primary" if fee.fee_id in self.selected else "ghost",
                          key="fees.line", params={
                              "kind_key": f"fee.kind.{fee.kind}", "text": fee.description,
                              "amount": format_fen(fee.due)})
            btn.halign = "left"
            btn.fee_id = fee.fee_id
            btn.bind(on_release=self._toggle)
            inner.add_widget(btn)
            self.fee_buttons[fee.fee_id] = btn
        scroll.add_widget(inner)
        box.add_widget(scroll)
        row = BoxLayout(size_hint_y=None, height=dp(100), spacing=dp(14))
        self.total_label = KLabel(key="fees.selected_total", params={"amount": format_fen(self.total())},
                                  font_size=dp(30))
        row.add_widget(self.total_label)
        self.pay_button = KButton(key="fees.pay_selected", kind="ok", height=dp(96))
        self.pay_button.bind(on_release=lambda *_: self._pay())
        self.pay_button.disabled = self.total() == 0
        row.add_widget(self.pay_button)
        box.add_widget(row)
        self.body.add_widget(box)

    def _toggle(self, btn: Any) -> None:
        if btn.fee_id in self.selected:
            self.selected.discard(btn.fee_id)
            btn.kind = "ghost"
        else:
            self.selected.add(btn.fee_id)
            btn.kind = "primary"
        self.total_label.params = {"amount": format_fen(self.total())}
        self.pay_button.disabled = self.total() == 0

    def _pay(self) -> None:
        total = self.total()
        if total <= 0:
            return
        self.goto(lambda: self.ask_payment(total, self._paid), 2)

    def _paid(self, tender: Any) -> None:
        card, lang, staff = self.card, self.app.lang, self.app.staff
        fee_ids = [f.fee_id for f in self.fees if f.fee_id in self.selected]
        self.work(lambda: self.backend.pay_fees(card, fee_ids, tender, language=lang, staff=staff),
                  lambda outcome: self.finish(outcome, "fees.done"))

"""The end of every flow: what was done, the receipt number, and the receipt as a QR code on
screen when the printer could not print it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, StringProperty

from kiosk.ui.screens.base import BaseScreen, label_for

Builder.load_file(str(Path(__file__).with_name("receipt.kv")))


class ReceiptScreen(BaseScreen):
    title_key = StringProperty("")
    receipt_no = StringProperty("")
    printed = BooleanProperty(True)
    print_error_key = StringProperty("")
    qr_data = StringProperty("")
    lines = ListProperty([])

    def has_session(self) -> bool:
        return bool(self.receipt_no)

    def activate(self, outcome: Any = None, title_key: str = "", **_kw: Any) -> None:
        self.title_key = title_key
        self.receipt_no = outcome.receipt.receipt_no
        self.printed = outcome.printed
        self.print_error_key = outcome.print_error_key
        self.qr_data = "" if outcome.printed else outcome.qr_text
        self.lines = list(outcome.lines)
        box = self.ids.lines
        box.clear_widgets()
        for line in self.lines:
            box.add_widget(label_for(line))

    def reset(self) -> None:
        self.title_key = ""
        self.receipt_no = ""
        self.qr_data = ""
        self.lines = []
        self.ids.lines.clear_widgets()

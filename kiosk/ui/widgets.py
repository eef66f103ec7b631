"""Reusable touch widgets: buttons, labels that never clip, step indicator, keypads, name entry,
status strip and QR image. Their look lives in ``widgets.kv``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image
from kivy.uix.label import Label

from kiosk.ui import pinyin
from library_core.identity import mask_mobile, mask_resident_id

log = logging.getLogger(__name__)

Builder.load_file(str(Path(__file__).with_name("widgets.kv")))


def mask_partial(value: str, mode: str) -> str:
    """What the display shows for a value being typed: PINs as dots, ID and phone masked."""
    if mode == "pin":
        return "●" * len(value)
    if mode == "id":
        return mask_resident_id(value) if len(value) >= 8 else value
    if mode == "phone":
        return mask_mobile(value) if len(value) >= 8 else value
    if mode == "yuan":  # a count typed as yuan with a point: shown as typed, after the sign
        return f"¥{value}" if value else "¥"
    if mode == "amount":
        if not value:
            return "¥0.00"
        fen = int(value)
        return f"¥{fen // 100}.{fen % 100:02d}"
    return value


def scaled(kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` with a given ``font_size`` times the app's type scale (senior mode: 1.5 or more;
    the ``.kv`` default sizes follow ``app.type_scale`` themselves)."""
    app = App.get_running_app()
    if "font_size" in kw and app is not None:
        kw["font_size"] = kw["font_size"] * float(getattr(app, "type_scale", 1.0))
    return kw


class KButton(Button):
    """A large touch button (at least 64 dp high); ``kind`` picks the colours."""

    kind = OptionProperty("neutral", options=["primary", "neutral", "danger", "ok", "ghost"])
    key = StringProperty("")  # message id of the label, re-translated on a language switch
    raw = StringProperty("")  # text shown as it is when there is no key
    params = ObjectProperty({})

    def __init__(self, **kw: Any) -> None:
        super().__init__(**scaled(kw))


class KLabel(Label):
    """A label that wraps to its width and grows to its text (never clipped)."""

    key = StringProperty("")
    params = ObjectProperty({})
    raw = StringProperty("")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**scaled(kw))


class StepIndicator(BoxLayout):
    """Numbered steps with the current one highlighted (``steps`` are message ids); ``compact``
    (senior mode: fewer items on screen) shows only the current one, as "3/7. Phone"."""

    steps = ListProperty([])
    current = NumericProperty(0)
    compact = BooleanProperty(False)

    def on_current(self, *_a: Any) -> None:
        self._rebuild()

    def on_steps(self, *_a: Any) -> None:
        self._rebuild()

    def on_compact(self, *_a: Any) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        self.clear_widgets()
        for i, key in enumerate(self.steps):
            if self.compact and i != self.current:
                continue
            state = "primary" if i == self.current else ("ok" if i < self.current else "ghost")
            self.add_widget(StepChip(key=key, number=i + 1, kind=state,
                                     total=len(self.steps) if self.compact else 0))


class StepChip(Label):
    key = StringProperty("")
    number = NumericProperty(1)
    total = NumericProperty(0)  # shown as "number/total" when set (compact indicator)
    kind = StringProperty("ghost")


class NumericKeypad(GridLayout):
    """Digits 0-9, backspace and an optional ``X`` (for ID numbers) or decimal point (for
    yuan). Fires ``on_key``."""

    allow_x = BooleanProperty(False)
    allow_point = BooleanProperty(False)

    __events__ = ("on_key",)

    def press(self, key: str) -> None:
        self.dispatch("on_key", key)

    def on_key(self, key: str) -> None:
        pass


class DigitEntry(BoxLayout):
    """A field filled by the on-screen keypad; the display masks PINs, ID and phone numbers."""

    value = StringProperty("")
    max_len = NumericProperty(18)
    mode = OptionProperty("plain", options=["plain", "pin", "id", "phone", "amount", "yuan"])
    label_key = StringProperty("")
    display = StringProperty("")

    def on_value(self, *_a: Any) -> None:
        self.display = mask_partial(self.value, self.mode)

    def on_mode(self, *_a: Any) -> None:
        self.display = mask_partial(self.value, self.mode)

    def key(self, key: str) -> None:
        if key == "back":
            self.value = self.value[:-1]
        elif key == "clear":
            self.value = ""
        elif len(self.value) < self.max_len:
            if key == "X" and (self.mode != "id" or len(self.value) != 17):
                return
            if key == "." and self.mode != "yuan":
                return
            self.value += key


class NameEntry(BoxLayout):
    """Name entry by pinyin with candidate characters, or by a Latin keyboard."""

    value = StringProperty("")
    buffer = StringProperty("")
    latin = BooleanProperty(False)
    candidates = ListProperty([])
    max_len = NumericProperty(30)

    def on_buffer(self, *_a: Any) -> None:
        self.candidates = pinyin.candidates(self.buffer, limit=14) if self.buffer else []

    def on_candidates(self, *_a: Any) -> None:
        box = self.ids.cands
        box.clear_widgets()
        for char in self.candidates:
            btn = KButton(raw=char, kind="ghost", size_hint=(None, None), width=dp(68), height=dp(68),
                          font_size=sp(34))
            btn.bind(on_release=lambda b: self.pick(b.raw))
            box.add_widget(btn)

    def letter(self, ch: str) -> None:
        if self.latin:
            if len(self.value) < self.max_len:
                text = self.value + ch
                self.value = text.title() if ch != " " else text
        elif len(self.buffer) < 8:
            self.buffer += ch.lower()

    def pick(self, char: str) -> None:
        if len(self.value) < self.max_len:
            self.value += char
        self.buffer = ""

    def backspace(self) -> None:
        if self.buffer:
            self.buffer = self.buffer[:-1]
        else:
            self.value = self.value[:-1]

    def toggle_latin(self) -> None:
        self.latin = not self.latin
        self.buffer = ""


class LetterKeyboard(GridLayout):
    """QWERTY letters, space and backspace. Fires ``on_key`` with the letter, ' ' or 'back'."""

    __events__ = ("on_key",)
    ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")

    def on_kv_post(self, _base: Any) -> None:
        keys = [*self.ROWS[0], *self.ROWS[1], "back", *self.ROWS[2], " ", "-", "·"]
        for key in keys:
            if key == "back":
                btn = KButton(key="keypad.back", height=dp(68))
            elif key == " ":
                btn = KButton(key="keyboard.space", height=dp(68))
            else:
                btn = KButton(raw=key.upper() if key.isalpha() else key, height=dp(68))
            btn.bind(on_release=lambda b, k=key: self.press(k))
            self.add_widget(btn)

    def press(self, key: str) -> None:
        self.dispatch("on_key", key)

    def on_key(self, key: str) -> None:
        pass


class StatusLamp(BoxLayout):
    label_key = StringProperty("")
    state_key = StringProperty("status.unknown")
    level = OptionProperty("unknown", options=["ok", "warn", "bad", "unknown"])


class StatusStrip(BoxLayout):
    """Card reader, printer, server and queued events, readable at a glance."""


class QrImage(Image):
    """Shows ``data`` as a QR code."""

    data = StringProperty("")

    def on_data(self, *_a: Any) -> None:
        self.texture = qr_texture(self.data) if self.data else None


QR_BOX_PX = 8  # screen pixels per QR module
QR_BORDER = 2  # modules of quiet zone


def qr_texture(data: str) -> Any:
    """``data`` as a QR code texture (error correction M), written straight from qrcode's
    module matrix. Not a PIL image saved as PNG and loaded back: Kivy's loader then calls
    ``PIL.Image.init()``, which imports all ~55 of Pillow's format plugins, kept for good."""
    import qrcode
    from kivy.graphics.texture import Texture

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M,
                       box_size=QR_BOX_PX, border=QR_BORDER)
    qr.add_data(data)
    qr.make(fit=True)
    dark, light = b"\x00\x00\x00\xff" * QR_BOX_PX, b"\xff\xff\xff\xff" * QR_BOX_PX
    rows = [b"".join(dark if cell else light for cell in row) * QR_BOX_PX
            for row in reversed(qr.get_matrix())]  # a texture's first row is its bottom
    side = len(rows) * QR_BOX_PX
    texture = Texture.create(size=(side, side), colorfmt="rgba")
    texture.blit_buffer(b"".join(rows), colorfmt="rgba", bufferfmt="ubyte")
    return texture


def app_t(key: str, **params: Any) -> str:
    app = App.get_running_app()
    return app.t(key, app.lang, **params) if app else key


__all__ = [
    "DigitEntry", "KButton", "KLabel", "LetterKeyboard", "NameEntry", "NumericKeypad",
    "ObjectProperty", "QrImage", "StatusLamp", "StatusStrip", "StepIndicator", "app_t",
    "mask_partial",
]

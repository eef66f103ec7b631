"""Child processes for benchmark 1 (card tap): the kiosk app, and the bare pyscard baseline.

``python -m bench.tap_worker app OUT`` runs the kiosk app (demo config, a new store, the REAL
``PcscCardReader`` on pcscd's "Virtual PCD 00 00", Kivy at its normal 60 fps cap) under the
DISPLAY the parent started. It first registers one reader and issues a card to the benchmark
UID through the card service (the token goes to an in-memory writer), and writes
``{"token": hex}`` so the parent can put that token on its virtual card. Then, for each tap,
it writes ``{"flip": t}`` at the first ``Window.on_flip`` after the renewal screen lists the
reader's masked name (with the times the driver announced the card and the
token read started and ended), waits until the card is pulled, goes home and writes ``{"ready": n}``.

After the first tap it also writes ``{"screen": [...]}``: every label and button the account
screen shows (class, text, font, size, colour, position in the window).

``python -m bench.tap_worker bare OUT`` is the first half of the floor: a bare pyscard script (a
``CardMonitor`` observer) that, for each insertion, connects, reads the UID (``FF CA``) and the
token sector (``FF 82`` / ``FF 86`` / ``FF B0`` x3) and writes ``{"read": t}``.

``python -m bench.tap_worker kivy OUT TAPS SCREEN`` is the second half: a bare Kivy app (plain
``Label`` / ``Button`` in a ``FloatLayout``, no kiosk code) that draws the account screen dumped
in the file SCREEN once per round, from a clock callback on the Kivy thread to the first
``Window.on_flip`` after it; it writes ``{"drawn": ms}`` each round, after one untimed round
(the font loaded, as the kiosk has it loaded at home).
Times are ``time.time()``; the parent compares them with the card's power-on stamp.
Both stop after ``TAPS`` taps or when the parent writes the file ``OUT.stop``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")

UID = bytes.fromhex("04B3E7A1")
READER = "Virtual PCD 00 00"
WECHAT_CODE = "134567890123456789"
LIMIT_S = 240.0


def write(out: Path, data: dict[str, Any]) -> None:
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(data) + "\n")


def reader_settings() -> Any:
    """The demo config's card-reader section, as a PC/SC reader on the virtual reader."""
    from config.settings import demo_settings_path, load_settings

    settings = load_settings(demo_settings_path(), env={})
    return dataclasses.replace(settings.card_reader, type="pcsc", reader_name=READER)


def card_keys() -> Any:
    """The bench card's own (diversified) keys under the demo config's card master key."""
    from config.settings import demo_settings_path, load_settings
    from library_core.mifare import CardKeys

    return CardKeys(load_settings(demo_settings_path(), env={}).card_master_key).for_card(UID)


def _stopped(out: Path) -> bool:
    return out.with_suffix(".stop").exists()


def run_app(out: Path, taps: int) -> None:
    from kivy.config import Config

    Config.set("graphics", "width", "1280")
    Config.set("graphics", "height", "800")
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from devices.pcsc_card_reader import PcscCardReader
    from kiosk.app_runtime import build_app, build_services
    from kiosk.services.common import Tender
    from kiosk.ui.driver import UiDriver
    from tests.support.kivy_app import make_parts
    from tests.support.services import MemoryCardWriter, make_reader

    data = Path(tempfile.mkdtemp(prefix="bench-tap-"))
    parts = make_parts(data)
    parts.settings = dataclasses.replace(parts.settings, card_reader=reader_settings())
    writer = MemoryCardWriter()
    writer.place(UID)
    issuing = build_services(parts.settings, store=parts.store, clock=parts.clock,
                             card_reader=writer, gateway=parts.gateway)
    issued = issuing["cards"].new_card(make_reader(7), Tender.payment_code(WECHAT_CODE))
    write(out, {"token": writer.cards[UID].hex(), "card_no": str(issued.receipt.card_no_masked)})

    from config.settings import demo_settings_path, load_settings

    reader = PcscCardReader(parts.settings.card_reader,
                            master_key=load_settings(demo_settings_path(), env={}).card_master_key)
    parts.card_reader = reader
    app = build_app(parts.settings, store=parts.store, clock=parts.clock, card_reader=reader,
                    scanner=parts.scanner, printer=parts.printer, gateway=parts.gateway,
                    monotonic=parts.monotonic, sync_status=lambda: None, wedge=parts.wedge)
    stamps: dict[str, float] = {}

    def on_device_event(event: Any) -> None:  # on the monitor thread, beside the bridge
        if type(event).__name__ == "CardInserted":
            stamps["inserted"] = time.time()

    reader.subscribe(on_device_event)
    app._run_prepare()
    backend = app.ctx.backend
    read_card = backend.read_card

    def timed_read_card(uid: bytes) -> Any:
        stamps["read_start"] = time.time()
        try:
            return read_card(uid)
        finally:
            stamps["read_done"] = time.time()

    backend.read_card = timed_read_card
    go = app.go

    def timed_go(name: str, **kwargs: Any) -> None:
        if name == "renewal":
            stamps["go_start"] = time.time()
        try:
            go(name, **kwargs)
        finally:
            if name == "renewal":
                stamps["go_done"] = time.time()

    app.go = timed_go
    driver = UiDriver(app, parts)
    flips: list[float] = []

    def shown() -> bool:
        return app.sm.current == "renewal" and bool(driver.find_all(key="summary.name"))

    def on_flip(*_a: Any) -> None:
        if not flips and shown():
            flips.append(time.time())

    Window.bind(on_flip=on_flip)
    dumped = False
    deadline = time.monotonic() + LIMIT_S
    while app.reader_state != "status.ok" and time.monotonic() < deadline:
        EventLoop.idle()
    write(out, {"reader": app.reader_state})
    for n in range(taps):
        flips.clear()
        stamps.clear()
        while not flips and time.monotonic() < deadline and not _stopped(out):
            EventLoop.idle()
        if not flips:
            break
        write(out, {"flip": flips[0], "n": n, **stamps})
        if not dumped:
            write(out, {"screen": dump_screen(app.root)})
            dumped = True
        while reader.current_uid() is not None and time.monotonic() < deadline:
            EventLoop.idle()
        app.home()
        for _ in range(3):
            EventLoop.idle()
        write(out, {"ready": n})
    Window.unbind(on_flip=on_flip)
    from kivy.base import stopTouchApp

    app.stop()
    stopTouchApp()
    parts.store.close()


LABEL_FIELDS = ("text", "font_name", "font_size", "color", "bold", "italic", "halign", "valign",
                "markup", "line_height")


def dump_screen(root: Any) -> list[dict[str, Any]]:
    """Every visible label and button under ``root``: what a bare Kivy app needs to draw it."""
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    shown = []
    for w in root.walk(restrict=True):
        if not isinstance(w, Label) or not w.text or w.opacity == 0 or w.width <= 1:
            continue
        item: dict[str, Any] = {f: getattr(w, f) for f in LABEL_FIELDS}
        item["color"] = list(item["color"])
        item["kind"] = "button" if isinstance(w, Button) else "label"
        item["pos"] = list(w.to_window(*w.pos))
        item["size"] = list(w.size)
        item["text_size"] = list(w.text_size) if w.text_size[0] is not None else None
        if isinstance(w, Button):
            item["background_color"] = list(w.background_color)
        shown.append(item)
    return shown


def run_kivy(out: Path, taps: int, screen_file: Path) -> None:
    """Bare Kivy: draw the dumped screen ``taps`` times, each from a callback to its flip."""
    from kivy.config import Config

    Config.set("graphics", "width", "1280")
    Config.set("graphics", "height", "800")
    from kivy.base import EventLoop
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.button import Button
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.label import Label

    from kiosk.ui import theme

    theme.register_fonts()  # the same CJK font under the same names
    spec = json.loads(screen_file.read_text(encoding="utf-8"))
    root = FloatLayout()
    Window.clearcolor = theme.BG
    Window.add_widget(root)
    state: dict[str, float | None] = {"start": None, "flip": None}

    def draw(_dt: float) -> None:
        state["start"] = time.time()
        for item in spec:
            kw = {f: item[f] for f in LABEL_FIELDS}
            kw.update(size_hint=(None, None), pos=item["pos"], size=item["size"])
            if item["text_size"] is not None:
                kw["text_size"] = item["text_size"]
            if item["kind"] == "button":
                root.add_widget(Button(background_color=item["background_color"], **kw))
            else:
                root.add_widget(Label(**kw))

    def on_flip(*_a: Any) -> None:
        if state["start"] is not None and state["flip"] is None:
            state["flip"] = time.time()

    Window.bind(on_flip=on_flip)
    for _ in range(10):
        EventLoop.idle()
    write(out, {"reader": "status.ok"})
    deadline = time.monotonic() + LIMIT_S
    for n in range(-1, taps):  # round -1 warms up (font loaded, as the app has at home)
        state.update(start=None, flip=None)
        Clock.schedule_once(draw, 0)
        while state["flip"] is None and time.monotonic() < deadline and not _stopped(out):
            EventLoop.idle()
        start, flip = state["start"], state["flip"]
        if start is None or flip is None:
            break
        if n >= 0:
            write(out, {"drawn": (flip - start) * 1000, "n": n, "widgets": len(root.children)})
        root.clear_widgets()
        for _ in range(3):
            EventLoop.idle()
    Window.unbind(on_flip=on_flip)
    from kivy.base import stopTouchApp

    stopTouchApp()


def run_bare(out: Path, taps: int) -> None:
    from smartcard.CardMonitoring import CardMonitor, CardObserver
    from smartcard.System import readers

    cfg = reader_settings()
    key_a = card_keys().key_a
    block = cfg.sector * 4
    done = threading.Event()
    count = [0]

    class Observer(CardObserver):  # type: ignore[misc]
        def update(self, _observable: Any, handlers: Any) -> None:
            added, _removed = handlers
            for card in added:
                if READER not in str(card.reader):
                    continue
                conn = card.createConnection()
                conn.connect()
                uid_data, sw1, _ = conn.transmit([0xFF, 0xCA, 0x00, 0x00, 0x00])
                conn.transmit([0xFF, 0x82, 0x00, 0x00, 0x06, *key_a])
                _, sw_auth, _ = conn.transmit([0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, block,
                                               0x60, 0x00])
                token: list[int] = []
                for b in range(block, block + 3):
                    data, _, _ = conn.transmit([0xFF, 0xB0, 0x00, b, 0x10])
                    token += data
                t = time.time()
                conn.disconnect()
                ok = sw1 == 0x90 and sw_auth == 0x90 and len(token) == 48
                write(out, {"read": t, "uid": bytes(uid_data).hex(), "ok": ok, "n": count[0]})
                count[0] += 1
                if count[0] >= taps:
                    done.set()

    assert any(READER in str(r) for r in readers()), "virtual reader missing"
    monitor = CardMonitor()
    observer = Observer()
    monitor.addObserver(observer)
    write(out, {"reader": "status.ok"})
    deadline = time.monotonic() + LIMIT_S
    while not done.is_set() and time.monotonic() < deadline and not _stopped(out):
        done.wait(0.1)
    monitor.deleteObserver(observer)


def main() -> int:
    mode, out, taps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    if mode == "kivy":
        run_kivy(out, taps, Path(sys.argv[4]))
    else:
        {"app": run_app, "bare": run_bare}[mode](out, taps)
    return 0


if __name__ == "__main__":
    sys.exit(main())

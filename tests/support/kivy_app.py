"""The kiosk app under Xvfb for UI tests: one app per test session (Kivy builds once per
process), reset to home before each test, driven by touches on real widgets and by events from
the simulated devices.

``kiosk_ui`` (function scope) yields a ``UiDriver``: ``tap(widget)``, ``pump()``,
``find(key=...)``, ``scan(text)``, ``tap_card(uid)``, ``advance_idle(seconds)``, ``screenshot``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.xvfb import xvfb_display  # noqa: F401

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")

START = dt.datetime(2026, 11, 24, 10, 0)


class FakeMonotonic:
    """The UI's idle clock, moved by tests instead of sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclasses.dataclass
class KioskParts:
    settings: Any
    store: Any
    clock: Any
    card_reader: Any
    scanner: Any
    printer: Any
    gateway: Any
    monotonic: FakeMonotonic
    data_dir: Path


def make_parts(data_dir: Path, *, language: str = "zh_CN") -> KioskParts:
    """Simulated devices, a fixed clock and a fresh store, from the demo config."""
    from config.settings import demo_settings_path, load_settings
    from devices.card_reader import SimulatedCardReader
    from devices.printer import SimulatedReceiptPrinter
    from devices.scanner import SimulatedScanner
    from kiosk.clock import FixedClock
    from kiosk.services.payment import SimulatedPaymentGateway
    from server_client.store import Store

    settings = load_settings(demo_settings_path(), env={})
    settings = dataclasses.replace(
        settings, kiosk=dataclasses.replace(settings.kiosk, language=language,
                                            data_dir=str(data_dir)))
    store = Store.open(data_dir / "kiosk.db", kiosk_id=settings.kiosk.id)
    return KioskParts(
        settings=settings, store=store, clock=FixedClock(START),
        card_reader=SimulatedCardReader(settings.card_reader), scanner=SimulatedScanner(),
        printer=SimulatedReceiptPrinter(paper_width_mm=80, preview_dir=data_dir / "receipts"),
        gateway=SimulatedPaymentGateway(), monotonic=FakeMonotonic(), data_dir=data_dir,
    )


class UiDriver:
    """Drives the running app like a reader would."""

    def __init__(self, app: Any, parts: KioskParts) -> None:
        self.app = app
        self.parts = parts

    # ---- pumping ----
    def pump(self, frames: int = 3, *, until_idle: bool = True, limit: int = 2000) -> None:
        """Run Kivy frames; with ``until_idle`` also until background work has called back."""
        import time

        from kivy.base import EventLoop

        for _ in range(frames):
            EventLoop.idle()
        n = 0
        while until_idle and (self.app.bridge.busy or getattr(self.app.screen, "busy", False)):
            EventLoop.idle()
            time.sleep(0.005)
            n += 1
            if n > limit:
                raise AssertionError("UI stayed busy")
        for _ in range(2):
            EventLoop.idle()

    # ---- finding and touching ----
    def walk(self, root: Any = None) -> Iterator[Any]:
        from kivy.core.window import Window

        root = root or Window
        stack = list(root.children)
        while stack:
            w = stack.pop()
            yield w
            stack.extend(w.children)

    def find_all(self, *, key: str | None = None, raw: str | None = None,
                 cls: type | None = None) -> list[Any]:
        out = []
        for w in self.walk():
            if key is not None and getattr(w, "key", None) != key:
                continue
            if raw is not None and getattr(w, "raw", None) != raw:
                continue
            if cls is not None and not isinstance(w, cls):
                continue
            if w.get_root_window() is None or getattr(w, "opacity", 1) == 0:
                continue
            out.append(w)
        return out

    def find(self, **kw: Any) -> Any:
        found = self.find_all(**kw)
        if not found:
            raise AssertionError(f"no visible widget with {kw} on {self.app.sm.current}")
        return found[0]

    def tap(self, widget: Any) -> None:
        from kivy.tests.common import UnitTestTouch

        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        self.pump()

    def press(self, key: str | None = None, raw: str | None = None) -> None:
        self.tap(self.find(key=key, raw=raw))

    def type_digits(self, digits: str) -> None:
        for ch in digits:
            self.press(raw=ch)

    def type_pinyin(self, syllable: str, char: str) -> None:
        for ch in syllable:
            self.press(raw=ch.upper())
        self.press(raw=char)

    def texts(self) -> str:
        """Every visible label and button text, joined (what the screen shows)."""
        return "\n".join(str(getattr(w, "text", "")) for w in self.walk()
                         if getattr(w, "text", "") and getattr(w, "opacity", 1) != 0)

    # ---- devices ----
    def scan(self, text: str) -> None:
        self.parts.scanner.scan(text)
        self.pump()

    def tap_card(self, uid: bytes, data: bytes | None = None) -> None:
        self.parts.card_reader.tap(uid, data)
        self.pump()

    def remove_card(self) -> None:
        self.parts.card_reader.remove()
        self.pump()

    def advance_idle(self, seconds: float) -> None:
        self.parts.monotonic.advance(seconds)
        self.app.check_idle()
        self.pump()

    def screenshot(self, path: Path) -> Path:
        from kivy.core.window import Window

        self.pump()
        path.parent.mkdir(parents=True, exist_ok=True)
        Window.screenshot(name=str(path))
        # Window.screenshot inserts a counter: find the newest file next to the wanted name
        made = sorted(path.parent.glob(path.stem + "*.png"), key=lambda p: p.stat().st_mtime)
        if made and made[-1] != path:
            made[-1].replace(path)
        return path


def start_app(parts: KioskParts, size: tuple[int, int] = (1280, 800)) -> Any:
    from kivy.config import Config

    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    from kiosk.app_runtime import build_app

    app = build_app(parts.settings, store=parts.store, clock=parts.clock,
                    card_reader=parts.card_reader, scanner=parts.scanner, printer=parts.printer,
                    gateway=parts.gateway, monotonic=parts.monotonic,
                    sync_status=lambda: None)
    app._run_prepare()
    return app


def stop_app(app: Any) -> None:
    from kivy.base import stopTouchApp

    app.stop()
    stopTouchApp()


@pytest.fixture(scope="session")
def kiosk_session(xvfb_display: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiDriver]:  # noqa: F811
    parts = make_parts(tmp_path_factory.mktemp("kiosk-ui"))
    app = start_app(parts)
    driver = UiDriver(app, parts)
    driver.pump(5)
    yield driver
    stop_app(app)
    parts.store.close()


@pytest.fixture
def kiosk_ui(kiosk_session: UiDriver) -> Iterator[UiDriver]:
    """The session's app, back on the home screen in Chinese, staff signed out."""
    d = kiosk_session
    d.app.staff = None
    d.app.set_language("zh_CN")
    d.parts.printer.set_state()
    d.app.home()
    d.pump()
    yield d
    d.app.staff = None
    d.app.home()
    d.pump()

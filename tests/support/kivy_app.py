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

from kiosk.ui.driver import FakeMonotonic, UiDriver
from tests.support.services import OutboxReaderPins, StandInStaffAuthority, add_staff
from tests.support.xvfb import xvfb_display  # noqa: F401

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")

START = dt.datetime(2026, 11, 24, 10, 0)


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
    wedge: Any = None
    reader_pins: Any = None
    id_card_reader: Any = None  # devices.simulated_id_card_reader.SimulatedIdCardReader
    staff_authority: Any = None  # the record server's staff log-in (StandInStaffAuthority)


def make_parts(data_dir: Path, *, language: str = "zh_CN") -> KioskParts:
    """Simulated devices, a fixed clock and a fresh store, from the demo config."""
    from config.settings import demo_settings_path, load_settings
    from devices.simulated_card_reader import SimulatedCardReader
    from devices.simulated_id_card_reader import SimulatedIdCardReader
    from devices.simulated_printer import SimulatedReceiptPrinter
    from devices.simulated_scanner import SimulatedScanner
    from devices.wedge_scanner import KeyboardWedgeScanner
    from kiosk.services.payment import SimulatedPaymentGateway
    from library_core.clock import FixedClock
    from server_client.store import Store

    settings = load_settings(demo_settings_path(), env={})
    settings = dataclasses.replace(
        settings, kiosk=dataclasses.replace(settings.kiosk, language=language,
                                            data_dir=str(data_dir)))
    store = Store.open(data_dir / "kiosk.db", kiosk_id=settings.kiosk.id)
    add_staff(store)  # S0001 desk (PIN 246810), S0002 supervisor (PIN 135790)
    clock = FixedClock(START)
    return KioskParts(
        settings=settings, store=store, clock=clock,
        card_reader=SimulatedCardReader(settings.card_reader), scanner=SimulatedScanner(),
        printer=SimulatedReceiptPrinter(paper_width_mm=80, preview_dir=data_dir / "receipts"),
        gateway=SimulatedPaymentGateway(), monotonic=FakeMonotonic(), data_dir=data_dir,
        wedge=KeyboardWedgeScanner(settings.scanner), reader_pins=OutboxReaderPins(store, clock),
        id_card_reader=SimulatedIdCardReader(clock=clock),
        staff_authority=StandInStaffAuthority(clock, kiosk_id=settings.kiosk.id),
    )


def start_app(parts: KioskParts, size: tuple[int, int] = (1280, 800)) -> Any:
    from kivy.config import Config

    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "maxfps", "0")  # tests pump frames as fast as they draw
    Config.set("graphics", "vsync", "0")
    from kiosk.app_runtime import build_app

    app = build_app(parts.settings, store=parts.store, clock=parts.clock,
                    card_reader=parts.card_reader, scanner=parts.scanner, printer=parts.printer,
                    gateway=parts.gateway, monotonic=parts.monotonic,
                    sync_status=lambda: None, wedge=parts.wedge,
                    reader_pins=parts.reader_pins, id_card_reader=parts.id_card_reader,
                    staff_authority=parts.staff_authority)
    app._run_prepare()
    return app


def stop_app(app: Any) -> None:
    from kivy.base import stopTouchApp

    app.stop()
    stopTouchApp()


# Kivy has one window per process, but pytest makes one session fixture per module that
# imports it: every importing module shares this one app (counted, stopped by the last user).
_shared: dict[str, Any] = {"driver": None, "users": 0}


@pytest.fixture(scope="session")
def kiosk_session(xvfb_display: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiDriver]:  # noqa: F811
    if _shared["driver"] is None:
        parts = make_parts(tmp_path_factory.mktemp("kiosk-ui"))
        app = start_app(parts)
        driver = UiDriver(app, parts)
        driver.pump(5)
        _shared["driver"] = driver
    _shared["users"] += 1
    yield _shared["driver"]
    _shared["users"] -= 1
    if _shared["users"] == 0:
        driver = _shared["driver"]
        _shared["driver"] = None
        stop_app(driver.app)
        driver.parts.store.close()


@pytest.fixture
def kiosk_ui(kiosk_session: UiDriver) -> Iterator[UiDriver]:
    """The session's app, back on the home screen in Chinese, staff signed out."""
    d = kiosk_session
    d.app.staff = None
    d.app.set_language("zh_CN")
    d.parts.printer.set_state()
    if d.parts.id_card_reader is not None:
        d.parts.id_card_reader.remove()
    d.app.home()
    d.pump()
    yield d
    d.app.staff = None
    d.app.home()
    d.pump()

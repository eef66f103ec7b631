"""``kiosk demo``: the kiosk with simulated devices against an embedded record server (started
and stopped here, on loopback), walked through every flow in both languages under a virtual
screen when there is no display; screenshots and receipt previews go to the output folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

WECHAT_CODE = "134567890123456789"


def _settings(output: Path) -> Any:
    from config.settings import demo_settings_path, load_settings

    settings = load_settings(demo_settings_path())
    return dataclasses.replace(settings, kiosk=dataclasses.replace(
        settings.kiosk, data_dir=str(output / "data")))


def _demo_id(n: int) -> str:
    from kiosk.domain.identity import id_check_char

    first = f"11010519850307{n:03d}"
    return first + id_check_char(first)


def walk_through(d: Any, shots: Path) -> list[str]:
    """Every flow in both languages; returns the screenshots' names."""
    made: list[str] = []

    def shot(name: str) -> None:
        path = shots / f"{d.app.lang}-{len(made) + 1:02d}-{name}.png"
        d.screenshot(path)
        made.append(path.name)

    def flow(name: str, steps: Callable[[], None]) -> None:
        try:
            steps()
        except Exception:
            log.exception("demo flow %s stopped", name)
            shot(f"{name}-stopped")
        d.app.staff = None
        d.app.home()
        d.pump()

    for n, lang in enumerate(("zh_CN", "en")):
        d.app.set_language(lang)
        d.app.home()
        d.pump()
        shot("home")
        uid = bytes([4, 0x10 + n, 0x20, 0x30])

        def new_card(uid: bytes = uid, n: int = n) -> None:
            d.press(key="home.new_card")
            d.type_pinyin("wang", "王")
            d.type_pinyin("fang", "芳")
            shot("new-card-name")
            d.press(key="nav.next")
            d.type_digits(_demo_id(n + 1))
            shot("new-card-id")
            d.press(key="nav.next")
            d.type_digits("13912345678")
            d.press(key="nav.next")
            shot("new-card-category")
            d.tap(d.find_all(key="category.option")[1])
            d.type_digits("482915")
            shot("new-card-pin")
            d.press(key="nav.next")
            d.type_digits("482915")
            d.press(key="nav.next")
            shot("new-card-payment")
            d.scan(WECHAT_CODE)
            shot("new-card-place-card")
            d.tap_card(uid)
            shot("new-card-receipt")

        def renewal(uid: bytes = uid) -> None:
            d.remove_card()
            d.tap_card(uid)
            shot("renewal-account")
            d.press(key="renewal.renew")
            shot("renewal-period")
            d.tap(d.find_all(key="renewal.period_option")[0])
            shot("renewal-payment")
            d.scan(WECHAT_CODE)
            shot("renewal-receipt")
            d.remove_card()

        def replacement(n: int = n) -> None:
            d.press(key="home.replacement")
            d.type_digits(_demo_id(n + 1))
            d.press(key="nav.next")
            d.type_digits("482915")
            shot("replacement-pin")
            d.press(key="nav.next")
            shot("replacement-payment")
            d.scan(WECHAT_CODE)
            shot("replacement-place-card")
            d.tap_card(bytes([4, 0x50 + n, 0x60, 0x70]))
            shot("replacement-receipt")
            d.remove_card()

        def fees() -> None:
            d.press(key="home.fees")
            shot("fees-tap")

        def returns() -> None:
            d.press(key="home.returns")
            shot("returns-scan")
            d.scan("9780000000000")
            shot("returns-list")

        def visitor() -> None:
            d.press(key="home.visitor")
            d.type_pinyin("li", "李")
            d.press(key="nav.next")
            d.type_digits("13700001111")
            d.press(key="nav.next")
            d.press(key="nav.next")
            shot("visitor-purpose")
            d.press(key="purpose.reading")
            shot("visitor-department")
            d.press(key="department.reading_room")
            shot("visitor-consent")
            d.press(key="visitor.agree")
            shot("visitor-pass")

        def staff() -> None:
            d.press(key="home.staff")
            shot("staff-login")

        def idle() -> None:
            d.press(key="home.new_card")
            d.advance_idle(46)
            shot("idle-warning")
            d.advance_idle(15)

        for name, steps in (("new-card", new_card), ("renewal", renewal),
                            ("replacement", replacement), ("fees", fees),
                            ("returns", returns), ("visitor", visitor), ("staff", staff),
                            ("idle", idle)):
            flow(name, steps)
    return made


def demo_main(output_dir: str) -> int:
    """Run the walk-through; prints nothing, logs where the screenshots and receipts are."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    output = Path(output_dir).resolve()
    shots = output / "screens"
    receipts = output / "receipts"
    for folder in (shots, receipts, output / "data"):
        folder.mkdir(parents=True, exist_ok=True)
    settings = _settings(output)
    server = None
    if settings.server.embedded:
        from record_server.embedded import start_embedded

        url = urlparse(settings.server.url)
        server = start_embedded(url.hostname or "127.0.0.1", url.port or 8765, output / "server")
    from kiosk.ui.display import virtual_display

    try:
        with virtual_display():
            return _run(settings, output, shots, receipts)
    finally:
        if server is not None:
            server.stop()


def _run(settings: Any, output: Path, shots: Path, receipts: Path) -> int:
    from kivy.config import Config

    w, h = settings.kiosk.window_size
    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    from devices.card_reader import SimulatedCardReader
    from devices.printer import SimulatedReceiptPrinter
    from devices.scanner import SimulatedScanner
    from kiosk.app_runtime import _start_sync, build_app
    from kiosk.clock import FixedClock
    from kiosk.services.payment import SimulatedPaymentGateway
    from kiosk.ui.driver import FakeMonotonic, UiDriver
    from server_client.store import Store

    db = output / "data" / "kiosk.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    store = Store.open(db, kiosk_id=settings.kiosk.id)
    clock = FixedClock(dt.datetime(2026, 11, 24, 10, 0))
    sync = _start_sync(settings, store, clock)

    @dataclasses.dataclass
    class Parts:
        card_reader: Any
        scanner: Any
        printer: Any
        monotonic: Any

    parts = Parts(SimulatedCardReader(settings.card_reader), SimulatedScanner(),
                  SimulatedReceiptPrinter(paper_width_mm=settings.printer.paper_width_mm,
                                          preview_dir=receipts), FakeMonotonic())
    app = build_app(settings, store=store, clock=clock, card_reader=parts.card_reader,
                    scanner=parts.scanner, printer=parts.printer,
                    gateway=SimulatedPaymentGateway(), monotonic=parts.monotonic,
                    sync_status=(lambda: sync.status) if sync is not None else None)
    app._run_prepare()
    d = UiDriver(app, parts)
    d.pump(5)
    try:
        made = walk_through(d, shots)
    finally:
        from kivy.base import stopTouchApp

        app.stop()
        stopTouchApp()
        if sync is not None:
            sync.stop()
        store.close()
    log.info("demo: %d screenshots in %s, receipt previews in %s", len(made), shots, receipts)
    sys.stdout.write(f"Screenshots: {shots}\nReceipt previews: {receipts}\n")
    return 0


main = demo_main

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

from library_core.identity import id_number_hash

log = logging.getLogger(__name__)

WECHAT_CODE = "134567890123456789"


def _settings(output: Path) -> Any:
    from config.settings import demo_settings_path, load_settings

    settings = load_settings(demo_settings_path())
    return dataclasses.replace(settings, kiosk=dataclasses.replace(
        settings.kiosk, data_dir=str(output / "data")))


def _demo_id(n: int) -> str:
    from library_core.identity import id_check_char

    first = f"11010519850307{n:03d}"
    return first + id_check_char(first)


def _demo_id_card(name: str, id_number: str) -> Any:
    """The resident ID card (its text block) the demo reader places on the ID-card reader."""
    from devices.id_card import IdCardData

    return IdCardData.from_fields(
        name=name, gender_code="1" if int(id_number[16]) % 2 else "2", ethnicity_code="01",
        birth_date=id_number[6:14], address="北京市东城区东华门街道南池子大街12号",
        id_number=id_number, issuing_authority="北京市公安局东城分局",
        valid_from="20200101", valid_to="20400101")


def _place_id_card(d: Any, card: Any) -> None:
    """Place the card on the ID-card reader (read at once), then take it off."""
    d.parts.id_card_reader.place(card)
    d.pump()
    d.parts.id_card_reader.remove()
    d.pump()


def _console_hint(base: str) -> None:
    """Say where the back-office console is and how to log in (``make demo`` shows it)."""
    from kiosk.embedded_server import DEMO_CONSOLE_LOGINS

    logins = ", ".join(f"{no} / {pw}" for no, pw in DEMO_CONSOLE_LOGINS.items())
    log.info("demo: back-office console at %s/console/ while the demo runs; log in as %s "
             "(desk, supervisor)", base.rstrip("/"), logins)


def _lend_at_desk(settings: Any, store: Any, clock: Any, reader_id: str, barcode: str,
                  due: dt.date) -> bool:
    """The desk lends ``barcode`` to the demo's new reader on the record server (staff API),
    after the kiosk has pushed that reader; the kiosk then pulls the loan. False if it fails."""
    import uuid

    import requests

    from server_client.sync import RecordServerClient, SyncEngine

    if not (settings.server.embedded and settings.kiosk_token):
        return False
    base = settings.server.url.rstrip("/")
    client = RecordServerClient.from_settings(settings.server, settings.kiosk.id,
                                              settings.kiosk_token)
    try:
        engine = SyncEngine(store, client, clock=clock)
        engine.push_all()
        from kiosk.embedded_server import DEMO_CONSOLE_LOGINS

        login = requests.post(f"{base}/api/v1/staff/login", timeout=10,
                              json={"staff_no": "S0001", "password": DEMO_CONSOLE_LOGINS["S0001"]})
        login.raise_for_status()
        resp = requests.post(f"{base}/api/v1/loans", timeout=10,
                             headers={"Authorization": f"Bearer {login.json()['token']}"},
                             json={"loan_id": str(uuid.uuid4()), "item_barcode": barcode,
                                   "reader_id": reader_id, "due_on": due.isoformat(),
                                   "borrowed_at": dt.datetime.combine(
                                       due - dt.timedelta(days=30), dt.time(10)).isoformat()})
        resp.raise_for_status()
        engine.pull_all()
    except Exception:
        log.warning("demo: lending at the desk through the server failed", exc_info=True)
        return False
    finally:
        client.close()
    return store.read_one("SELECT 1 FROM loans WHERE item_barcode = ? AND returned_at IS NULL",
                          (barcode,)) is not None


def _demo_loans(store: Any, clock: Any, reader_id: str | None,
                settings: Any = None) -> tuple[list[str], str]:
    """Barcodes to return: two overdue demo loans (fines for their borrowers) and one loan of
    the demo's new reader, 12 days late (a fine the fees flow then collects); and an unknown."""
    from library_core.codes import make_item_barcode

    rows = store.read("SELECT item_barcode FROM loans WHERE returned_at IS NULL AND due_on < ?"
                      " ORDER BY due_on LIMIT 2", (clock.now().date().isoformat(),))
    barcodes = [r["item_barcode"] for r in rows]
    free = store.read_one("SELECT barcode FROM items WHERE status = 'available' AND hold = 0"
                          " AND barcode NOT IN (SELECT item_barcode FROM loans) LIMIT 1")
    if reader_id is not None and free is not None:
        due = clock.now().date() - dt.timedelta(days=12)
        if settings is not None and _lend_at_desk(settings, store, clock, reader_id,
                                                  free["barcode"], due):
            return [*barcodes, free["barcode"]], make_item_barcode(999_999_001)
        with store.transaction() as tx:
            tx.insert("loans", {"loan_id": f"demo-{free['barcode']}", "item_barcode": free["barcode"],
                                "reader_id": reader_id,
                                "borrowed_at": (due - dt.timedelta(days=30)).isoformat(),
                                "due_on": due, "returned_at": None})
            tx.update("items", "barcode", free["barcode"], {"status": "on_loan"})
        barcodes.append(free["barcode"])
    return barcodes, make_item_barcode(999_999_001)


def _build_replica(settings: Any, store: Any, clock: Any) -> None:
    """A new kiosk builds its replica by pulling from zero: the embedded server's demo data
    (staff, readers, items, loans, fines). Without a server, the demo profile is loaded locally."""
    if settings.server.embedded and settings.kiosk_token:
        from server_client.sync import RecordServerClient, SyncEngine

        client = RecordServerClient.from_settings(settings.server, settings.kiosk.id,
                                                  settings.kiosk_token)
        try:
            pulled = SyncEngine(store, client, clock=clock).pull_all()
        finally:
            client.close()
        log.info("demo replica: %d changes pulled from the embedded server", pulled)
        if store.count("staff") and store.count("loans"):
            return
        log.warning("the server's changes hold no staff or loans: loading the demo profile")
    from server_client.demo_data import generate

    generate(store, library_key=settings.library_key)


def walk_through(d: Any, shots: Path, store: Any = None, clock: Any = None,
                 settings: Any = None, stopped: list[str] | None = None) -> list[str]:
    """Every flow in both languages; returns the screenshots' names. A flow that stops is
    logged, photographed and its ``lang/name`` appended to ``stopped``; the walk goes on."""
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
            if stopped is not None:
                stopped.append(f"{d.app.lang}/{name}")
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
            shot("new-card-id-card")
            _place_id_card(d, _demo_id_card("王芳", _demo_id(n + 1)))
            shot("new-card-identity")  # name, ID number, birth date from the card, locked
            d.press(key="nav.next")
            shot("new-card-category")
            d.tap(d.find_all(key="category.option")[1])
            d.type_digits("13912345678")
            d.press(key="nav.next")
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
            shot("replacement-id-card")
            _place_id_card(d, _demo_id_card("王芳", _demo_id(n + 1)))
            d.type_digits("482915")
            shot("replacement-pin")
            d.press(key="nav.next")
            shot("replacement-payment")
            d.scan(WECHAT_CODE)
            shot("replacement-place-card")
            d.tap_card(bytes([4, 0x50 + n, 0x60, 0x70]))
            shot("replacement-receipt")
            d.remove_card()

        def fees(uid: bytes = uid) -> None:
            d.press(key="home.fees")
            shot("fees-tap")
            d.tap_card(uid)
            shot("fees-list")
            d.press(key="fees.pay_selected")
            shot("fees-payment")
            d.scan(WECHAT_CODE)
            shot("fees-receipt")
            d.remove_card()

        def returns(n: int = n) -> None:
            reader = store.read_one("SELECT reader_id FROM readers WHERE id_hash = ?",
                                    (id_number_hash(_demo_id(n + 1), settings.library_key),)
                                    ) if store is not None else None
            barcodes, unknown = (_demo_loans(store, clock, reader["reader_id"] if reader else None,
                                             settings)
                                 if store is not None else ([], "9780000000000"))
            d.press(key="home.returns")
            shot("returns-scan")
            for barcode in [*barcodes, unknown, *barcodes[:1]]:
                d.scan(barcode)
            shot("returns-list")
            d.press(key="returns.finish")
            shot("returns-receipt")

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
            room = next(x for x in d.app.screen.departments() if x.code == "reading_room")
            d.press(raw=room.name(d.app.lang))
            shot("visitor-consent")
            d.press(key="visitor.agree")
            shot("visitor-pass")

        def staff() -> None:
            d.press(key="home.staff")
            shot("staff-login")
            d.type_digits("0002")  # S0002, supervisor in the demo profile
            d.press(key="nav.next")
            d.type_digits("135790")
            d.press(key="nav.next")
            shot("staff-menu")
            d.press(key="staff.roster")
            shot("staff-roster")
            d.press(key="nav.done")
            d.press(key="staff.diagnostics")
            shot("staff-diagnostics")
            d.press(key="nav.cancel")
            d.press(key="staff.close_day")
            shot("staff-close-day")
            d.press(key="nav.cancel")  # the day stays open: the walk-through runs twice
            d.press(key="staff.logout")

        def id_card_refusals() -> None:
            d.press(key="home.new_card")
            _place_id_card(d, "expired")
            shot("id-card-expired")  # refused with the date it ran out
            d.press(key="nav.cancel")
            d.press(key="home.new_card")
            _place_id_card(d, "child")
            shot("id-card-child")  # child by age, the guardian's consent asked
            d.press(key="nav.next")
            shot("id-card-guardian")

        def senior(n: int = n) -> None:
            d.press(key="home.senior")
            shot("senior-home")
            d.press(key="home.new_card")
            shot("senior-id-card")
            _place_id_card(d, "senior")
            shot("senior-identity")
            if d.app.screen.identity is None:  # the senior card is already a reader's (2nd walk)
                shot("senior-exists")
                return
            d.press(key="nav.next")
            d.type_digits("13612345678")
            shot("senior-phone")
            d.press(key="nav.next")
            d.type_digits("482915")
            d.press(key="nav.next")
            d.type_digits("482915")
            d.press(key="nav.next")
            shot("senior-free-card")  # a senior's card is free: no payment
            d.press(key="nav.next")
            d.tap_card(bytes([4, 0x70 + n, 0x60, 0x50]))
            shot("senior-receipt")
            d.remove_card()

        def idle() -> None:
            d.press(key="home.new_card")
            d.advance_idle(46)
            shot("idle-warning")
            d.advance_idle(15)

        for name, steps in (("new-card", new_card), ("renewal", renewal),
                            ("returns", returns), ("fees", fees),
                            ("replacement", replacement), ("visitor", visitor), ("staff", staff),
                            ("id-card", id_card_refusals), ("senior", senior), ("idle", idle)):
            flow(name, steps)
    return made


def _enroll(settings: Any, server: Any) -> Any:
    """Enroll this kiosk with the embedded server (one-time code -> token) so its sync is
    accepted; the token lives only in the settings of this run."""
    from library_core.clock import SystemClock
    from record_server.auth import enroll_kiosk
    from server_client.sync import RecordServerClient

    code = enroll_kiosk(server.db, settings.kiosk.id, SystemClock())
    client = RecordServerClient(server.url, settings.kiosk.id)
    try:
        token = client.enroll(code)
    finally:
        client.close()
    log.info("demo kiosk %s enrolled with the embedded server", settings.kiosk.id)
    return dataclasses.replace(settings, kiosk_token=token)


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
        from kiosk.embedded_server import start_embedded

        url = urlparse(settings.server.url)
        server = start_embedded(url.hostname or "127.0.0.1", url.port or 8765, output / "server",
                                library_key=settings.library_key)
        _console_hint(server.url)
        settings = _enroll(settings, server)
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
    from devices.simulated_card_reader import SimulatedCardReader
    from devices.simulated_id_card_reader import SimulatedIdCardReader
    from devices.simulated_printer import SimulatedReceiptPrinter
    from devices.simulated_scanner import SimulatedScanner
    from kiosk.app_runtime import _start_sync, build_app, reader_pin_checker, staff_authority_for
    from kiosk.services.payment import SimulatedPaymentGateway
    from kiosk.ui.driver import FakeMonotonic, UiDriver
    from library_core.clock import FixedClock
    from server_client.store import Store

    db = output / "data" / "kiosk.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    store = Store.open(db, kiosk_id=settings.kiosk.id)
    clock = FixedClock(dt.datetime(2026, 11, 24, 10, 0))
    _build_replica(settings, store, clock)
    sync = _start_sync(settings, store, clock)

    @dataclasses.dataclass
    class Parts:
        card_reader: Any
        scanner: Any
        printer: Any
        monotonic: Any
        id_card_reader: Any

    parts = Parts(SimulatedCardReader(settings.card_reader, master_key=settings.card_master_key),
                  SimulatedScanner(),
                  SimulatedReceiptPrinter(paper_width_mm=settings.printer.paper_width_mm,
                                          preview_dir=receipts), FakeMonotonic(),
                  SimulatedIdCardReader(clock=clock))
    app = build_app(settings, store=store, clock=clock, card_reader=parts.card_reader,
                    scanner=parts.scanner, printer=parts.printer,
                    gateway=SimulatedPaymentGateway(), monotonic=parts.monotonic,
                    sync_status=(lambda: sync.status) if sync is not None else None,
                    reader_pins=reader_pin_checker(settings) if settings.kiosk_token else None,
                    staff_authority=staff_authority_for(settings) if settings.kiosk_token else None,
                    id_card_reader=parts.id_card_reader)
    app._run_prepare()
    d = UiDriver(app, parts)
    d.pump(5)
    stopped: list[str] = []
    try:
        made = walk_through(d, shots, store, clock, settings, stopped)
    finally:
        from kivy.base import stopTouchApp

        app.stop()
        stopTouchApp()
        if sync is not None:
            sync.stop()
        store.close()
    log.info("demo: %d screenshots in %s, receipt previews in %s", len(made), shots, receipts)
    sys.stdout.write(f"Screenshots: {shots}\nReceipt previews: {receipts}\n")
    if stopped:  # a demo that skipped a flow must not pass for a good one
        log.error("demo: flows stopped: %s (see the *-stopped screenshots)", ", ".join(stopped))
        return 1
    return 0


main = demo_main

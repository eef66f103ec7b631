"""Wiring: settings -> store -> services -> devices -> sync loop -> app.

``build_app`` takes ready-made parts (tests and the demo pass simulators and a fixed clock);
``run(config_path)`` builds everything from a config file and runs the app until it closes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from library_core.errors import KioskError

log = logging.getLogger(__name__)


def build_services(settings: Any, *, store: Any, clock: Any, card_reader: Any,
                   gateway: Any, connectivity: Any = None,
                   reader_pins: Any = None, staff_authority: Any = None,
                   ils: Any = None) -> dict[str, Any]:
    """Every use case the UI reaches, by name (``cards``, ``fees``, ``returns``, ``visitors``,
    ``staff``), wired by ``kiosk.services.build_services``. ``connectivity`` (a
    ``ConnectivityProbe``; default always online) drives the offline payment limit."""
    from kiosk.services import build_services as wire
    from kiosk.services.config import ServicesConfig

    wired = wire(store, clock, gateway, card_reader, ServicesConfig.from_settings(settings),
                 connectivity=connectivity, reader_pins=reader_pins,
                 staff_authority=staff_authority, desk=ils.desk if ils is not None else None)
    return {"cards": wired.cards, "fees": wired.fees, "returns": wired.returns,
            "visitors": wired.visitors, "staff": wired.staff, "fee_schedule": wired.fee_schedule,
            # with a SIP2 ILS (server_client.sip2.wiring.IlsRuntime): accounts, link, queue
            "ils": wired.ils, "ils_runtime": ils}


def build_app(settings: Any, *, store: Any, clock: Any, card_reader: Any, scanner: Any,
              printer: Any, gateway: Any, sync_status: Callable[[], Any] | None = None,
              monotonic: Callable[[], float] = time.monotonic, wedge: Any = None,
              services: dict[str, Any] | None = None, connectivity: Any = None,
              reader_pins: Any = None, id_card_reader: Any = None,
              staff_authority: Any = None,
              voice: Any = None, ils: Any = None) -> Any:
    """The KioskApp, wired to the given parts (not yet running). ``reader_pins`` checks
    readers' PINs at the record server (``reader_pin_checker``); none: replacement refused.
    ``id_card_reader`` (``devices.id_card.IdCardReader``) gives identity from the resident ID
    card (none: new cards typed in staff mode only); ``voice`` plays prompts
    (``kiosk.ui.voice.PromptPlayer``; none: silent)."""
    from kiosk.ui.app import KioskApp, UiContext
    from kiosk.ui.backend import Backend
    from library_core.scan import ScanParser

    if services is None:
        services = build_services(settings, store=store, clock=clock, card_reader=card_reader,
                                  gateway=gateway, connectivity=connectivity,
                                  reader_pins=reader_pins, staff_authority=staff_authority, ils=ils)
    backend = Backend(settings=settings, clock=clock, store=store, services=services,
                      card_reader=card_reader, scanner=scanner, printer=printer,
                      parser=ScanParser(settings.library_key, clock), sync_status=sync_status,
                      wedge=wedge, id_card_reader=id_card_reader)
    k = settings.kiosk
    ctx = UiContext(backend=backend, language=k.language, library_name=k.library_name,
                    library_name_en=k.library_name_en, idle_warning_s=k.idle_warning_s,
                    idle_reset_s=k.idle_reset_s, staff_idle_s=k.staff_idle_s, monotonic=monotonic,
                    senior=getattr(settings, "senior", None), voice=voice)
    backend.payments = gateway  # a payment's progress (the countdown) reaches the screens
    ctx.on_stop.append(backend.stop)
    return KioskApp(ctx)


def configure_window(settings: Any, fullscreen: bool | None) -> None:
    """Window size before Kivy creates the window."""
    from kivy.config import Config

    w, h = settings.kiosk.window_size
    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    full = settings.kiosk.fullscreen if fullscreen is None else fullscreen
    Config.set("graphics", "fullscreen", "auto" if full else "0")
    Config.set("input", "mouse", "mouse,multitouch_on_demand")


def run(config_path: str, *, fullscreen: bool | None = None) -> int:
    """Run the kiosk from a config file until the window closes. Returns an exit code."""
    from config.settings import load_settings
    from devices.factory import build_card_reader, build_printer, build_scanner
    from kiosk.payments.factory import build_gateway, recover_open_intents, start_recovery_loop
    from kiosk.services.ports import StatusConnectivity
    from library_core.clock import SystemClock
    from server_client.store import Store

    os.environ.setdefault("KIVY_NO_ARGS", "1")
    settings = load_settings(config_path)
    configure_window(settings, fullscreen)
    clock = SystemClock()
    data = settings.data_dir
    if not data.is_absolute():
        data = Path(config_path).resolve().parent.parent / data if not data.exists() else data
    data.mkdir(parents=True, exist_ok=True)
    store = Store.open(data / "kiosk.db", kiosk_id=settings.kiosk.id)
    card_reader = build_card_reader(settings.card_reader, master_key=settings.card_master_key)
    scanner = build_scanner(settings.scanner)
    printer = build_printer(settings.printer, preview_dir=data / "receipts")
    id_card_reader = _id_card_reader(settings, clock)
    voice = _voice_player(settings)
    ils = None
    if settings.circulation.adapter == "sip2":  # returns, ILS fines and lost cards at the ILS
        from server_client.sip2.wiring import build_ils

        ils = build_ils(settings.circulation, store, clock)
        ils.start()
    # each sync round reports the devices and, with SIP2, the ILS link (issue 15.3)
    sync = _start_sync(settings, store, clock,
                       devices={"printer": printer, "card_reader": card_reader, "scanner": scanner,
                                "ils": ils})
    settings = _server_kiosk_no(settings, store)
    # payment.type: the simulator (demo), none, or WeChat Pay / Alipay with durable intents;
    # intents a crash or a lost answer left open are settled before the first reader pays
    gateway = build_gateway(settings, store=store, clock=clock, kiosk_no=settings.kiosk.kiosk_no)
    recover_open_intents(gateway)
    recovery = start_recovery_loop(gateway)  # and while running, off the UI thread
    # offline payment limit: online only while the sync loop's last round reached the server
    connectivity = StatusConnectivity((lambda: sync.status) if sync is not None else (lambda: None))
    wedge = scanner if type(scanner).__name__ == "KeyboardWedgeScanner" else None
    app = build_app(settings, store=store, clock=clock, card_reader=card_reader,
                    scanner=None if wedge else scanner, printer=printer, gateway=gateway,
                    sync_status=(lambda: sync.status) if sync is not None else None,
                    wedge=wedge, connectivity=connectivity,
                    reader_pins=reader_pin_checker(settings), id_card_reader=id_card_reader,
                    voice=voice,
                    staff_authority=staff_authority_for(settings), ils=ils)
    try:
        app.run()
    except KioskError as err:
        log.error("kiosk stopped: %s", err)
        return 1
    finally:
        if recovery is not None:
            recovery.stop()
        if sync is not None and hasattr(sync, "stop"):
            sync.stop()
        if ils is not None:
            ils.close()
        store.close()
    return 0


def _voice_player(settings: Any) -> Any:
    """The prompt player of ``[voice]`` (Kivy's SoundLoader; silent when disabled); None when
    the config has no such section."""
    section = getattr(settings, "voice", None)
    if section is None:
        return None
    from kiosk.ui.sound_player import build_voice_player

    return build_voice_player(section)


def _id_card_reader(settings: Any, clock: Any) -> Any:
    """The resident ID-card reader of ``[id_card]`` (None when the config has no such section:
    new cards are then typed by hand, in staff mode only)."""
    section = getattr(settings, "id_card", None)
    if section is None:
        return None
    from devices.factory import build_id_card_reader

    return build_id_card_reader(section, clock=clock)


def _server_kiosk_no(settings: Any, store: Any) -> Any:
    """The kiosk's number comes from the record server (enrollment, start-up position); the
    config's ``kiosk.kiosk_no`` is deprecated: used only by a kiosk that has not learned its
    number yet, and overruled (with a warning) when the server's number differs."""
    known = store.kiosk_no() if hasattr(store, "kiosk_no") else None
    if known is None or known == settings.kiosk.kiosk_no:
        return settings
    log.warning("config kiosk.kiosk_no = %d ignored: the record server numbered this kiosk %d",
                settings.kiosk.kiosk_no, known)
    return dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk,
                                                                   kiosk_no=known))


def reader_pin_checker(settings: Any) -> Any:
    """Readers' PINs checked by the record server (replacement), over a client of its own (one
    requests session per thread of use); None when the sync client cannot be built."""
    try:
        from kiosk.services.cards.replacement import ServerReaderPins
        from server_client.sync import RecordServerClient
    except ImportError:
        return None
    return ServerReaderPins(RecordServerClient.from_settings(
        settings.server, settings.kiosk.id, settings.kiosk_token))


def staff_authority_for(settings: Any) -> Any:
    """Staff log-ins checked by the record server (``ServerStaffAuthority``), over a client
    of its own; None when the sync client cannot be built (staff log-in is then refused)."""
    try:
        from kiosk.services.staff_auth import ServerStaffAuthority
        from server_client.sync import RecordServerClient
    except ImportError:
        return None
    return ServerStaffAuthority(RecordServerClient.from_settings(
        settings.server, settings.kiosk.id, settings.kiosk_token))


def _start_sync(settings: Any, store: Any, clock: Any, devices: dict[str, Any] | None = None) -> Any:
    """The background sync loop (it runs off the UI thread); None when it cannot be built.
    Each round tells the server the state of ``devices`` (printer, card_reader, scanner)."""
    try:
        from server_client.sync import RecordServerClient, SyncEngine, SyncLoop
        from server_client.sync.device_status import DeviceStatusReporter
    except ImportError:
        log.warning("server_client.sync not available: running offline")
        return None
    from kiosk import __version__
    client = RecordServerClient.from_settings(settings.server, settings.kiosk.id, settings.kiosk_token)
    reporter = DeviceStatusReporter(clock=clock, software_version=__version__,
                                    pending=store.pending_count, **(devices or {}))
    engine = SyncEngine(store, client, clock=clock, batch_size=settings.server.batch_size,
                        device_status=reporter)
    try:  # before any use case runs: a wiped or restored store moves forward first
        engine.resume()
    except KioskError as err:
        log.warning("kiosk position not learned at start-up (%s); the sync loop retries", err)
    loop = SyncLoop(engine, interval_s=settings.server.sync_interval_s)
    loop.start()
    return loop

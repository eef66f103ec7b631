"""End to end: the kiosk UI (under Xvfb, touches on the real widgets) with the REAL card reader
driver (PcscCardReader through pcscd + vpcd + the virtual MIFARE card), the ESC/POS printer over
TCP to a loopback socket printer, and the record server as a real process. A new card is issued
through the screens, tapped for renewal, both receipts arrive at the socket, and after a sync the
server holds the reader, the card with its new expiry and both payments."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.factory import build_card_reader, build_printer
from kiosk.app_runtime import build_services
from server_client.store import Store
from server_client.sync import RecordServerClient, SyncEngine
from tests.integration.test_pcsc_card_reader import MASTER_KEY
from tests.integration.test_pcsc_card_reader import settings as reader_settings
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.pcscd import PcscDaemon, pcscd  # noqa: F401
from tests.support.printer_socket import SocketPrinter, printer_socket  # noqa: F401
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.virtual_card import VirtualCard
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import READER_PIN, WECHAT_CODE, id_card_of, make_id, place_id_card

pytestmark = [pytest.mark.ui, pytest.mark.pcsc]


@contextlib.contextmanager
def rewired(d: Any, *, store: Any, card_reader: Any, printer: Any) -> Iterator[None]:
    """The running app's backend on other parts (a store, the real reader, a real printer);
    the simulators are put back afterwards."""
    backend = d.app.ctx.backend
    saved = {k: getattr(backend, k) for k in ("store", "card_reader", "printer", "services")}
    backend.store, backend.card_reader, backend.printer = store, card_reader, printer
    backend.services = build_services(d.parts.settings, store=store, clock=d.parts.clock,
                                      card_reader=card_reader, gateway=d.parts.gateway,
                                      staff_authority=d.parts.staff_authority)
    unsubscribe = card_reader.subscribe(d.app.bridge.deliver)
    card_reader.start()
    try:
        yield
    finally:
        unsubscribe()
        card_reader.stop()
        for k, v in saved.items():
            setattr(backend, k, v)



def test_issue_and_renew_with_real_reader_socket_printer_and_server(
        kiosk_ui, pcscd: PcscDaemon, printer_socket: SocketPrinter,  # noqa: F811
        server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    d = kiosk_ui
    settings = d.parts.settings
    kiosk_id = settings.kiosk.id
    server = server_factory()
    server.cli("migrate")
    server.create_staff("S0001", role="supervisor")
    server.start()
    token = server.enroll(kiosk_id)

    store = Store.open(tmp_path / "e2e-kiosk.db", kiosk_id=kiosk_id)
    reader = build_card_reader(reader_settings(), master_key=MASTER_KEY)
    printer = build_printer(dataclasses.replace(settings.printer, type="network",
                                                host=printer_socket.host, port=printer_socket.port,
                                                timeout_s=10.0))
    card = VirtualCard(bytes.fromhex("04E2E001"), sector=1, library_access=False)  # factory-fresh
    try:
        with rewired(d, store=store, card_reader=reader, printer=printer):
            d.pump_until(lambda: d.app.reader_state == "status.ok", "reader ready")
            # ---- new card through the screens; the blank card on the real reader ----
            d.press(key="home.new_card")
            place_id_card(d, id_card_of("高飞", make_id(77)))
            d.press(key="nav.next")
            d.tap(d.find_all(key="category.option")[0])
            d.type_digits("13812345678")
            d.press(key="nav.next")
            d.type_digits(READER_PIN)
            d.press(key="nav.next")
            d.type_digits(READER_PIN)
            d.press(key="nav.next")
            d.scan(WECHAT_CODE)
            assert d.app.screen.step == 5, d.app.screen.error
            card.insert()
            d.pump_until(lambda: d.app.sm.current == "receipt", "card issued")
            issued_receipt = d.app.screen.receipt_no
            assert d.app.screen.printed
            card_row = store.read_one("SELECT * FROM cards")
            assert card_row["uid"] == card.uid.hex()
            d.press(key="nav.done")
            card.remove()
            d.pump_until(lambda: d.app.sm.current == "home" and reader.current_uid() is None,
                       "card off the reader")

            # ---- tap for renewal ----
            card.insert()
            d.pump_until(lambda: d.app.sm.current == "renewal" and bool(d.find_all(key="renewal.renew")),
                       "renewal account")
            d.press(key="renewal.renew")
            d.pump_until(lambda: bool(d.find_all(key="renewal.period_option")), "renewal periods")
            d.tap(d.find_all(key="renewal.period_option")[0])
            d.scan(WECHAT_CODE)
            d.pump_until(lambda: d.app.sm.current == "receipt", "renewed")
            renewed_receipt = d.app.screen.receipt_no
            assert d.app.screen.printed
            d.press(key="nav.done")
            card.remove()

        # ---- both receipts arrived at the socket printer ----
        # (each recorded when the socket reads the driver's close; status polls connect too)
        printer_socket.wait_for_job(lambda j: issued_receipt.encode() in j, "the new card's")
        printer_socket.wait_for_job(lambda j: renewed_receipt.encode() in j, "the renewal's")
        jobs = printer_socket.jobs
        assert all(j.endswith(b"\x1dVA\x00") or b"\x1dV" in j for j in jobs)  # each job cut

        # ---- sync, then the server holds the transactions ----
        client = RecordServerClient(server.url, kiosk_id, token)
        try:
            report = SyncEngine(store, client, clock=d.parts.clock).sync_once()
        finally:
            client.close()
        assert store.pending_count() == 0, report
        staff = server.staff_token("S0001")
        card_no = store.read_one("SELECT card_no FROM cards")["card_no"]
        local_expiry = store.read_one("SELECT expires_on FROM cards")["expires_on"]
        resp = server.get(f"/api/v1/cards/{card_no}", staff)
        assert resp.status_code == 200, resp.text
        assert str(resp.json()["expires_on"]) == str(local_expiry)
        summary = server.get("/api/v1/summary", staff).json()
        assert summary["readers"] == 1 and summary["cards"] == 1
        assert summary["payments"]["payment"]["count"] == 2
        assert store.count("outbox", "kind = 'card.renewed'") == 1
        assert summary["events"] == {"applied": store.count("outbox")}  # every event, applied
    finally:
        with contextlib.suppress(Exception):
            card.remove()
        store.close()

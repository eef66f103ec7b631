"""The printed receipt's QR is the e-receipt's URL (issue 12.12), through the real parts: the
kiosk's config ([receipts] checked by ``config.receipts``), its UI backend's renewal flow
printing to a real ESC/POS socket printer on loopback, the job's bytes drawn to a PNG and read
back by zxing-cpp, the sync client pushing to a real record server process (SQLite and
PostgreSQL), and the URL answering with that receipt. With the printer out of paper, the
screen's QR is the same URL."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import zxingcpp
from PIL import Image

from config.receipts import ReceiptsSection, check_receipts
from config.settings import PrinterSection, demo_settings_path, load_settings
from devices.printer import EscposReceiptPrinter
from devices.receipt_preview import render_png
from devices.receipt_text import paper_spec
from kiosk.app_runtime import build_services
from kiosk.services.common import Tender
from kiosk.ui.backend import Backend
from library_core.clock import CHINA_TZ, FixedClock
from library_core.ereceipts import well_formed
from server_client.store import Store
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.printer_socket import PrinterState, SocketPrinter, printer_socket  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import WECHAT_CODE, MemoryCardWriter, add_staff, make_reader


@pytest.fixture
def kiosk(server_factory: Any, printer_socket: SocketPrinter,  # noqa: F811
          db_url: str, tmp_path: Path) -> Iterator[tuple[Backend, SyncEngine, ServerProcess]]:
    import datetime as dt

    from kiosk.services.payment import SimulatedPaymentGateway

    server: ServerProcess = server_factory(db_url)
    server.cli("migrate")
    server.start()
    token = server.enroll("K01")
    settings = load_settings(demo_settings_path(), env={})
    settings = dataclasses.replace(settings, receipts=check_receipts(
        ReceiptsSection(public_base_url=server.url + "/"), server_url=settings.server.url,
        demo=True))
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id=settings.kiosk.id)
    add_staff(store)
    clock = FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0))
    writer = MemoryCardWriter()
    services = build_services(settings, store=store, clock=clock, card_reader=writer,
                              gateway=SimulatedPaymentGateway())
    printer = EscposReceiptPrinter(PrinterSection(
        type="network", host=printer_socket.host, port=printer_socket.port, timeout_s=2.0,
        paper_width_mm=80, chinese_mode="fs"))
    backend = Backend(settings=settings, clock=clock, store=store, services=services,
                      card_reader=writer, scanner=None, printer=printer, parser=None)
    client = RecordServerClient(server.url, "K01", token, retries=1, backoff_s=0.01)
    yield backend, SyncEngine(store, client, clock=clock), server
    client.close()
    store.close()


def test_the_printed_qr_opens_the_receipt_and_a_failed_print_shows_the_same(
        kiosk: tuple[Backend, SyncEngine, ServerProcess], printer_socket: SocketPrinter,  # noqa: F811
        tmp_path: Path) -> None:
    backend, engine, server = kiosk
    writer = backend.card_reader
    writer.place_blank()
    backend.cards.new_card(make_reader(7), Tender.payment_code(WECHAT_CODE))
    uid, _raw = writer.tapped()
    outcome = backend.renew(backend.read_card(uid), 12, Tender.payment_code(WECHAT_CODE),
                            language="zh_CN")
    receipt = outcome.receipt
    assert outcome.printed and well_formed(receipt.ereceipt_token)
    url = f"{server.url}/r/{receipt.ereceipt_token}"
    assert receipt.qr == url

    assert printer_socket.wait_for_connections(1)
    (job,) = printer_socket.jobs  # the renewal's receipt, as the printer got it
    assert receipt.receipt_no.encode() in job
    png = tmp_path / "renewal.png"
    render_png(job, paper_spec(80).dots, png)
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == [url]

    report = engine.sync_once()
    assert report.applied == report.pushed > 0 and report.rejected == report.conflicts == 0
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and receipt.receipt_no in page.text
    assert "续期凭条" in page.text and "￥" in page.text
    english = requests.get(url, params={"lang": "en"}, timeout=10)
    assert english.status_code == 200 and "Renewal receipt" in english.text

    # the printer runs out of paper: the transaction completes, the screen shows the QR
    printer_socket.set_state(PrinterState.PAPER_OUT)
    failed = backend.renew(backend.read_card(uid), 12, Tender.payment_code(WECHAT_CODE),
                           language="en")
    assert not failed.printed and failed.print_error_key == "printer.paper_out"
    assert re.fullmatch(re.escape(server.url) + r"/r/[A-Za-z0-9_-]{22}", failed.qr_text)
    assert failed.qr_text == failed.receipt.qr != url
    assert backend.store.receipt(failed.receipt.receipt_no).qr == failed.qr_text  # reprint too
    engine.sync_once()
    shown = requests.get(failed.qr_text, timeout=10)
    assert shown.status_code == 200 and failed.receipt.receipt_no in shown.text

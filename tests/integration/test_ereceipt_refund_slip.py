"""The refund slip's QR is its e-receipt's URL (issue 12 point 12: every receipt), through the
real parts: a new card paid by WeChat whose card write fails, so the payment lifecycle
(``kiosk.services.common.charged``) gives the charge back and names the refund; the UI
backend prints the slip the screen asks for to a real ESC/POS socket printer on loopback; the
job's bytes are drawn to a PNG and its QR read back by zxing-cpp; the sync client pushes to a
real record server process, whose ``/r/{token}`` page shows the refund in both languages; the
receipt number alone, or the token altered, opens nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import zxingcpp
from PIL import Image

from devices.receipt_preview import render_png
from devices.receipt_text import paper_spec
from kiosk.services.common import Tender
from kiosk.ui.backend import Backend
from library_core.errors import KioskError
from library_core.receipt_words import money
from server_client.sync import SyncEngine
from tests.integration.test_ereceipt_print import kiosk  # noqa: F401
from tests.support.printer_socket import SocketPrinter, printer_socket  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import WECHAT_CODE, make_reader


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_refund_slips_qr_opens_the_refund_on_the_server(
        kiosk: tuple[Backend, SyncEngine, ServerProcess],  # noqa: F811
        printer_socket: SocketPrinter,  # noqa: F811
        tmp_path: Path) -> None:
    backend, engine, server = kiosk
    writer = backend.card_reader
    writer.place_blank()
    writer.fail_write = True  # the card cannot be written after the charge: it is refunded
    with pytest.raises(KioskError) as failed:
        backend.cards.new_card(make_reader(8), Tender.payment_code(WECHAT_CODE))
    params = dict(failed.value.params)
    assert params["refunded_method"] == "wechat" and params["refunded_fen"] > 0

    outcome = backend.print_refund_slip(params, "zh_CN")  # what the screen does then
    slip = outcome.receipt
    assert outcome.printed and (slip.kind, slip.total) == ("refund", params["refunded_fen"])
    url = slip.qr
    assert re.fullmatch(re.escape(server.url) + r"/r/[A-Za-z0-9_-]{22}", url), url
    assert slip.receipt_no not in url

    assert printer_socket.wait_for_connections(1)
    (job,) = [j for j in printer_socket.jobs if slip.receipt_no.encode() in j]
    png = tmp_path / "refund.png"
    render_png(job, paper_spec(80).dots, png)
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == [url]

    report = engine.sync_once()
    assert report.rejected == report.conflicts == 0 and report.applied == report.pushed > 0
    amount = money(params["refunded_fen"])  # as the receipt prints it
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and slip.receipt_no in page.text
    assert "退款凭条" in page.text and amount in page.text
    english = requests.get(url, params={"lang": "en"}, timeout=10)
    assert english.status_code == 200 and "Refund receipt" in english.text and amount in english.text
    token = url.rsplit("/", 1)[1]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (altered, slip.receipt_no):
        missing = requests.get(f"{server.url}/r/{bad}", timeout=10)
        assert missing.status_code == 404 and "退款凭条" not in missing.text

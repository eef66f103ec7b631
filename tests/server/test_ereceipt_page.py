"""E-receipts on a phone (issue 12.12) in Debian's Chromium against the real server process.

The receipts come from the kiosk's own use cases (a new card, a fee paid) on its own store, with
``[receipts] public_base_url`` the server's address; the real sync client pushes them; the QR's
URL then opens in a 390 x 844 viewport and shows the receipt as printed, masked, in Chinese and
in English. A token altered in one character, the bare receipt number, a short token and a
made-up one are the same 404; too many look-ups from one client are 429. Hostile
``receipt.issued`` events (another kiosk's receipt, another day's number, an unmasked ID number,
a reused token hash, a total that is not the payment's) are refused by name and store nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text

from kiosk.services.common import Tender
from library_core import events
from library_core.clock import CHINA_TZ, FixedClock
from library_core.ereceipts import token_hash, well_formed
from library_core.receipts import Receipt
from record_server.ereceipts.page import RATE_PER_MINUTE
from server_client.sync import RecordServerClient, SyncEngine
from tests.server.test_forged_claims import Pusher
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    visible_keys,
)
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    server_factory_fixture,
)
from tests.support.services import WECHAT_CODE, ServicesEnv, make_env, make_reader

PHONE = {"width": 390, "height": 844}


class Kiosk:
    def __init__(self, server: ServerProcess, env: ServicesEnv, engine: SyncEngine,
                 token: str) -> None:
        self.server, self.env, self.engine, self.token = server, env, engine, token

    def sync(self) -> None:
        report = self.engine.sync_once()
        assert report.pushed > 0 and report.applied == report.pushed, report
        assert report.rejected == report.conflicts == 0


@pytest.fixture(name="kiosk")
def kiosk_fixture(server_factory: Callable[..., ServerProcess],  # noqa: F811
                  tmp_path: Path) -> Iterator[Kiosk]:
    server = server_factory()
    server.cli("migrate")
    server.start()
    token = server.enroll("K01")
    env = make_env(tmp_path / "kiosk.sqlite3", library_name_en="City Library",
                   ereceipt_base_url=server.url,
                   clock=FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0)))
    client = RecordServerClient(server.url, "K01", token, retries=1, backoff_s=0.01)
    yield Kiosk(server, env, SyncEngine(env.store, client, clock=env.clock), token)
    client.close()
    env.store.close()


def _phone(browser: Browser) -> Page:
    return browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()  # type: ignore[arg-type]


def _rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width  # no sideways scrolling on a phone


def test_a_kiosk_receipt_opens_on_a_phone_in_both_languages(browser: Browser,  # noqa: F811
                                                            kiosk: Kiosk) -> None:
    person = make_reader(1)
    issued = kiosk.env.new_card(1)
    receipt: Receipt = issued.receipt
    kiosk.sync()
    assert well_formed(receipt.ereceipt_token)
    assert receipt.qr == f"{kiosk.server.url}/r/{receipt.ereceipt_token}"
    (stored,) = _rows(kiosk.server, "SELECT * FROM ereceipts")
    assert stored.token_hash == token_hash(receipt.ereceipt_token)
    assert receipt.ereceipt_token not in stored.body  # the server never holds the token

    page = _phone(browser)
    answer = page.goto(receipt.qr)
    assert answer is not None and answer.status == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    body = page.inner_text("main")
    for shown in ("市图书馆", "办证凭条", receipt.receipt_no, receipt.card_no_masked,
                  receipt.id_masked, receipt.phone_masked, receipt.reader_name, "微信", "合计"):
        assert shown in body, shown
    assert f"￥{receipt.total / 100:.2f}" in body
    for secret in (issued.card_no, person.id_number, person.phone, person.name):
        assert secret not in page.content(), secret
    assert visible_keys(page) == []
    _fits_the_phone(page)

    click_and_load(page, "nav.lang a[lang=en]")
    body = page.inner_text("main")
    assert "City Library" in body and "New card receipt" in body and "Total" in body
    assert receipt.receipt_no in body and person.id_number not in page.content()
    assert visible_keys(page) == []
    _fits_the_phone(page)


def test_a_tampered_or_made_up_token_is_404(browser: Browser, kiosk: Kiosk) -> None:  # noqa: F811
    receipt: Receipt = kiosk.env.new_card(2).receipt
    kiosk.sync()
    token = receipt.ereceipt_token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    page = _phone(browser)
    for path in (f"/r/{flipped}", f"/r/{receipt.receipt_no}", f"/r/{token[:-1]}",
                 f"/r/{token}x", "/r/" + "A" * 22, f"/r/{token_hash(token)}"):
        answer = page.goto(kiosk.server.url + path)
        assert answer is not None and answer.status == 404, path
        assert "找不到这张凭条" in page.inner_text("main"), path
        assert receipt.receipt_no not in page.inner_text("main")
    answer = page.goto(f"{kiosk.server.url}/r/{flipped}?lang=en")
    assert answer is not None and answer.status == 404
    assert "cannot be found" in page.inner_text("main") and visible_keys(page) == []
    answer = page.goto(receipt.qr)
    assert answer is not None and answer.status == 200  # the genuine one still opens


def test_look_ups_are_rate_limited(kiosk: Kiosk) -> None:
    statuses = [requests.get(f"{kiosk.server.url}/r/{'B' * 22}", timeout=10).status_code
                for _ in range(RATE_PER_MINUTE + 5)]
    assert statuses.count(404) >= RATE_PER_MINUTE - 5  # a minute may turn meanwhile
    assert statuses[-1] == 429 and statuses.count(429) >= 1


def _receipt_event(kiosk: Kiosk) -> dict[str, Any]:
    (event,) = [e for e in kiosk.env.store.pending_events(10_000)
                if e["kind"] == events.RECEIPT_ISSUED]
    return event


def test_hostile_receipt_events_are_refused_by_name(kiosk: Kiosk) -> None:
    server = kiosk.server
    kiosk.env.new_card(3)
    genuine = _receipt_event(kiosk)
    kiosk.sync()
    thief = server.enroll("K02")

    def forged(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        event = copy.deepcopy(genuine)
        event.update(event_id=str(uuid.uuid4()), kiosk_id="K02")
        change(event["payload"])
        return event

    def other_no(p: dict[str, Any]) -> None:
        p["receipt_no"] = p["receipt_no"].replace("K01-", "K02-")

    def as_k02(p: dict[str, Any]) -> None:
        other_no(p)
        p["document"]["kiosk_id"] = "K02"
        p["token_sha256"] = "0" * 64

    def other_day(p: dict[str, Any]) -> None:
        as_k02(p)
        day = dt.date.fromisoformat(p["document"]["issued_at"][:10]) - dt.timedelta(days=1)
        p["receipt_no"] = f"K02-{day:%Y%m%d}-0001"

    def unmasked(p: dict[str, Any]) -> None:
        as_k02(p)
        p["document"]["id_masked"] = make_reader(3).id_number

    def same_token(p: dict[str, Any]) -> None:
        other_no(p)
        p["document"]["kiosk_id"] = "K02"

    cases = [
        (other_no, "receipt_other_kiosk"),  # K01's receipt pushed by K02
        (other_day, "receipt_no_day_mismatch"),
        (unmasked, "invalid_payload: document.id_masked: Value error, must be masked"),
        (same_token, "receipt_token_taken"),
    ]
    before = _rows(server, "SELECT receipt_no, token_hash FROM ereceipts")
    for seq, (change, reason) in enumerate(cases, start=1):
        event = forged(change)
        event["seq"] = seq
        resp = server.post("/api/v1/kiosks/K02/events", thief, json={"events": [event]})
        assert resp.status_code == 200, resp.text
        (result,) = resp.json()["results"]
        assert result["status"] == "rejected" and reason in result["detail"], (reason, result)
    assert _rows(server, "SELECT receipt_no, token_hash FROM ereceipts") == before


def test_a_receipt_that_is_not_its_payment(browser: Browser, kiosk: Kiosk) -> None:  # noqa: F811
    """A kiosk that lies on paper: its receipt says 1 yuan less than the payment it records.
    Pushed after the payment, the receipt is refused; pushed before it (as kiosks do), it is
    kept, and the page says it does not match the library's records."""
    env = kiosk.env
    pusher = Pusher(kiosk.server, env, kiosk.token)
    issued = env.new_card(4)
    batch = pusher.take()
    (first,) = [e for e in batch if e["kind"] == events.RECEIPT_ISSUED]
    first["payload"]["document"]["total"] -= 100
    results = pusher.push(batch)
    assert [r["status"] for r in results] == ["applied"] * len(batch), results
    page = _phone(browser)
    answer = page.goto(issued.receipt.qr)
    assert answer is not None and answer.status == 200
    assert "不符" in page.inner_text("[data-mismatch]")

    uid, raw = env.writer.tapped()
    renewed = env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    batch = pusher.take()
    (second,) = [e for e in batch if e["kind"] == events.RECEIPT_ISSUED]
    batch.remove(second)
    second["payload"]["document"]["total"] -= 100
    results = pusher.push([*batch, second])
    assert [r["status"] for r in results] == ["applied"] * len(batch) + ["rejected"]
    assert results[-1]["detail"] == "receipt_not_payment"
    answer = page.goto(renewed.receipt.qr)
    assert answer is not None and answer.status == 404  # nothing kept

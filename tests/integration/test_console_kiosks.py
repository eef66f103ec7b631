"""The console's kiosk-facing acceptance (issue 12 points 2 and 7) through real parts: the
record server process, kiosk stores and use cases (``VisitorService``), the real sync client
(``SyncEngine`` with ``DeviceStatusReporter``), the simulated printer and card reader, and
Debian's Chromium driving the console.

- the dashboard shows a kiosk's "paper near end" after the one sync that follows the printer
  saying so (and nothing before it); ``CONSOLE_SCREENSHOTS=<dir>`` saves it there (zh, en);
- the A4 evacuation roster lists visitors registered at two different kiosks;
- the retention purge removes visitor data older than the retention and nothing younger, is
  recorded and audited, and shows on the visitors page; a retention below a day is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from devices.simulated_card_reader import SimulatedCardReader
from devices.simulated_printer import SimulatedReceiptPrinter
from kiosk.services import build_services
from kiosk.services.config import ServicesConfig
from kiosk.services.payment import SimulatedPaymentGateway
from kiosk.services.visitors import VisitorRequest
from library_core.clock import CHINA_TZ, FixedClock
from server_client.store import Store
from server_client.sync import RecordServerClient, SyncEngine
from server_client.sync.device_status import DeviceStatusReporter
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    log_in,
    start_console_server,
    visible_keys,
)
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import TEST_KEY, MemoryCardWriter

OPEN_ALL_DAY = {"opening_time": dt.time(0, 0), "closing_time": dt.time(23, 59, 59)}


class Kiosk:
    """One kiosk: its store, use cases and sync engine (with device status) on a FixedClock."""

    def __init__(self, root: Path, server: ServerProcess, kiosk_id: str, *,
                 at: dt.datetime) -> None:
        from config.settings import CONFIG_DIR
        from library_core.fees import load_fee_schedule

        self.kiosk_id = kiosk_id
        self.token = server.enroll(kiosk_id)
        self.clock = FixedClock(at)
        self.store = Store.open(root / f"{kiosk_id}.sqlite3", kiosk_id=kiosk_id)
        cfg = ServicesConfig(kiosk_id=kiosk_id, kiosk_no=int(kiosk_id[1:]), library_key=TEST_KEY,
                             fees=load_fee_schedule(CONFIG_DIR / "fees.toml"), **OPEN_ALL_DAY)
        self.services = build_services(self.store, self.clock, SimulatedPaymentGateway(),
                                       MemoryCardWriter(), cfg)
        self.printer = SimulatedReceiptPrinter()
        self.card_reader = SimulatedCardReader()
        self.card_reader.start()
        reporter = DeviceStatusReporter(clock=self.clock, software_version="0.1.0",
                                        printer=self.printer, card_reader=self.card_reader,
                                        pending=self.store.pending_count)
        self.engine = SyncEngine(self.store, RecordServerClient(server.url, kiosk_id, self.token),
                                 clock=self.clock, device_status=reporter)

    def visitor(self, name: str, phone: str) -> str:
        result = self.services.visitors.register(VisitorRequest(
            name=name, phone=phone, purpose="开会", host_department="办公室", consent=True))
        return result.visit.visit_id

    def close(self) -> None:
        self.store.close()


def _now() -> dt.datetime:
    """The real time (the server's clock), to the second; the kiosks' clocks start here."""
    return dt.datetime.now(CHINA_TZ).replace(microsecond=0)


@pytest.fixture(name="console")
def console_fixture(server_factory: Callable[..., ServerProcess]) -> ServerProcess:  # noqa: F811
    return start_console_server(server_factory)


@pytest.fixture(name="kiosks")
def kiosks_fixture(tmp_path: Path) -> Iterator[list[Kiosk]]:
    made: list[Kiosk] = []
    yield made
    for k in made:
        k.close()


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    """``CONSOLE_SCREENSHOTS=<dir>`` keeps the page there (the README's pictures)."""
    target = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name), full_page=True)
    assert (target / name).stat().st_size > 10_000


def _rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_dashboard_shows_paper_near_end_after_one_sync(
        browser: Browser, console: ServerProcess, kiosks: list[Kiosk], tmp_path: Path,
        lang: str) -> None:
    kiosk = Kiosk(tmp_path, console, "K01", at=_now())
    kiosks.append(kiosk)
    kiosk.visitor("王五", "13900001111")  # an event to push alongside the status
    kiosk.engine.sync_once()
    page = log_in(browser, console, "desk", lang=lang)
    page.goto("/console/dashboard")
    row = page.locator("#kiosk-health tr[data-kiosk=K01]")
    near_end = "[data-alert='console.alert.paper_near_end']"
    assert row.locator("td.printer").get_attribute("data-paper") == "ok"
    assert row.locator(near_end).count() == 0
    assert row.locator("[data-alert]").count() == 0  # reader ready, printer fine, just synced
    assert _rows(console, "SELECT card_reader FROM kiosk_status") == [("ready",)]

    kiosk.printer.set_state(paper="near_end")
    page.reload()
    assert row.locator(near_end).count() == 0  # the server knows only what a sync told it
    report = kiosk.engine.sync_once()  # one sync, nothing else pending: a status-only push
    assert report.pushed == 0
    page.reload()
    assert row.locator("td.printer").get_attribute("data-paper") == "near_end"
    assert row.locator(near_end).inner_text() == ("纸将用完" if lang == "zh_CN"
                                                  else "Paper near end")
    assert visible_keys(page) == []
    _shot(page, tmp_path, f"console-dashboard-{'zh' if lang == 'zh_CN' else 'en'}.png")

    kiosk.printer.set_state(paper="out")  # paper out and a reader gone are alerts
    kiosk.card_reader.set_status("no_reader")
    kiosk.engine.sync_once()
    page.reload()
    alerts = row.locator("[data-alert]").evaluate_all("els => els.map(e => e.dataset.alert)")
    assert set(alerts) == {"console.alert.paper_out", "console.alert.reader_gone"}
    [(paper, reader, version)] = _rows(
        console, "SELECT printer_paper, card_reader, software_version FROM kiosk_status")
    assert (paper, reader, version) == ("out", "no_reader", "0.1.0")
    page.context.close()


def test_hostile_device_status_is_refused_and_changes_nothing(
        console: ServerProcess, kiosks: list[Kiosk], tmp_path: Path) -> None:
    kiosk = Kiosk(tmp_path, console, "K01", at=_now())
    kiosks.append(kiosk)
    kiosk.engine.sync_once()
    before = _rows(console, "SELECT * FROM kiosk_status")
    good = kiosk.engine.device_status("")  # type: ignore[misc]
    for bad in ({**good, "printer": {"online": True, "paper": "<script>"}},
                {**good, "software_version": "x" * 40},
                {**good, "last_sync_error": "boom\x00"},
                {**good, "card_reader": "ready", "extra": 1}):
        resp = console.post("/api/v1/kiosks/K01/events", kiosk.token,
                            json={"events": [], "device_status": bad})
        assert resp.status_code == 422, resp.text
    other = console.post("/api/v1/kiosks/K02/events", kiosk.token,  # another kiosk's
                         json={"events": [], "device_status": good})
    assert other.status_code in (401, 403)
    assert _rows(console, "SELECT * FROM kiosk_status") == before


def test_evacuation_roster_lists_visitors_of_two_kiosks(
        browser: Browser, console: ServerProcess, kiosks: list[Kiosk], tmp_path: Path) -> None:
    east, west = Kiosk(tmp_path, console, "K01", at=_now()), Kiosk(tmp_path, console, "K02",
                                                                   at=_now())
    kiosks += [east, west]
    v1 = east.visitor("张三", "13900001111")
    v2 = west.visitor("李四", "13900002222")
    left = west.visitor("赵六", "13900003333")
    west.services.visitors.sign_out(_pass_of(west, left))
    for k in (east, west):
        k.engine.sync_once()
    page = log_in(browser, console, "auditor", lang="zh_CN")
    page.goto("/console/visitors")
    click_and_load(page, "#roster-link")
    assert page.url.endswith("/console/visitors/roster")
    listed = page.locator("tr[data-visit]").evaluate_all("els => els.map(e => e.dataset.visit)")
    assert sorted(listed) == sorted([v1, v2])  # the one who signed out is not on it
    assert {page.locator(f"section[data-kiosk={k}]").count() for k in ("K01", "K02")} == {1}
    body = page.inner_text("main")
    assert "张三" in body and "李四" in body and "赵六" not in body
    assert "139****1111" in body and "13900001111" not in body  # phones masked
    assert visible_keys(page) == []
    page.emulate_media(media="print")  # the print style: no navigation, A4
    assert not page.locator("nav.side").is_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and b"/MediaBox [0 0 595" in pdf
    page.context.close()


def _pass_of(kiosk: Kiosk, visit_id: str) -> str:
    row = kiosk.store.read_one("SELECT pass_token FROM visitors WHERE visit_id = ?", (visit_id,))
    return str(row[0])


def test_purge_removes_visitor_data_older_than_retention_and_nothing_younger(
        browser: Browser, server_factory: Callable[..., ServerProcess],  # noqa: F811
        kiosks: list[Kiosk], tmp_path: Path) -> None:
    # the serve's own timer keeps ten years, so only the command below purges here
    console = start_console_server(server_factory,
                                   env={"RECORD_SERVER_VISITOR_RETENTION_DAYS": "3650"})
    now = _now()
    kiosk = Kiosk(tmp_path, console, "K01", at=now - dt.timedelta(days=31))
    kiosks.append(kiosk)
    old = kiosk.visitor("旧访客", "13900004444")
    kiosk.clock.advance(days=2)  # 29 days ago: inside a 30-day retention
    young = kiosk.visitor("新访客", "13900005555")
    kiosk.engine.sync_once()

    runs = _rows(console, "SELECT count(*) FROM visitor_purges")[0][0]  # serve's timer ran
    with pytest.raises(RuntimeError, match="at least one day"):
        console.cli("purge-visitors", "--retention-days", "0")
    assert _rows(console, "SELECT count(*) FROM visitor_purges")[0][0] == runs

    out = console.cli("purge-visitors", "--retention-days", "30")
    assert "purged 1 visits, 1 events" in out
    visits = {r.visit_id: r for r in _rows(console, "SELECT * FROM visits")}
    assert (visits[old].name, visits[old].phone, visits[old].purged_at is not None) == (
        "", "", True)
    assert (visits[young].name, visits[young].phone, visits[young].purged_at) == (
        "新访客", "13900005555", None)
    payloads = [json.loads(r.payload) for r in _rows(
        console, "SELECT payload FROM events WHERE kind = 'visit.opened'")]
    by_id = {p["visit_id"]: p for p in payloads}
    assert (by_id[old]["name"], by_id[old]["phone"]) == ("", "")
    assert (by_id[young]["name"], by_id[young]["phone"]) == ("新访客", "13900005555")
    everything = json.dumps([list(map(str, r)) for r in _rows(console, "SELECT * FROM events")]
                            + [list(map(str, r)) for r in _rows(console, "SELECT * FROM visits")],
                            ensure_ascii=False)
    assert "旧访客" not in everything and "13900004444" not in everything
    [(action, staff, after)] = _rows(console, "SELECT action, staff_no, after FROM audit_log "
                                              "WHERE action = 'purge.visitors'")
    assert (action, staff, json.loads(after)["visits"]) == ("purge.visitors", "system", 1)
    again = console.cli("purge-visitors", "--retention-days", "30")
    assert "purged 0 visits, 0 events" in again  # nothing twice; no second audit row
    assert len(_rows(console, "SELECT id FROM audit_log WHERE action = 'purge.visitors'")) == 1

    page = log_in(browser, console, "auditor", lang="en")
    page.goto("/console/visitors?state=purged")
    assert page.locator(f"#history tr[data-visit='{old}']").count() == 1
    assert "personal data purged on" in page.inner_text("#history")
    assert page.locator("#purges tbody tr").count() == runs + 2
    assert visible_keys(page) == []
    page.context.close()

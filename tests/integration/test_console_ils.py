"""The console half of issue 15 through real parts: the record server process, the kiosk's
store and use cases with the SIP2 adapter against the test ILS over TCP, the real sync client
(``SyncEngine`` with ``DeviceStatusReporter`` reporting the ``IlsRuntime``), Debian's Chromium.

- the ILS link (down, last error, queued) reaches the dashboard's kiosk health, an alert when down;
- a queued return the ILS refuses when forwarded is pushed as ``ils.refused`` and listed on the
  console's ILS page; resolving it is recorded and audited; a hostile one is refused by name;
- readers registered at the kiosk export as Koha patron CSV, generic CSV and FOLIO JSON (the
  console's button and ``record-server export-readers``), audited; desk is refused.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from kiosk.services.common import Tender
from kiosk.services.returns import ReturnOutcome
from server_client.sip2.wiring import IlsRuntime
from server_client.sync import RecordServerClient, SyncEngine
from server_client.sync.device_status import DeviceStatusReporter
from tests.integration.test_sip2_circulation import IlsEnv, down, make_ils_env, up
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    log_in,
    start_console_server,
    visible_keys,
)
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import START, WECHAT_CODE, make_reader
from tests.support.test_ils import ON_LOAN, ON_SHELF, TestIls
from tests.support.test_ils import test_ils as test_ils  # noqa: F401  (fixture)


@pytest.fixture(name="console")
def console_fixture(server_factory: Callable[..., ServerProcess]) -> ServerProcess:  # noqa: F811
    return start_console_server(server_factory)


class SipKiosk:
    def __init__(self, e: IlsEnv, server: ServerProcess) -> None:
        self.e = e
        self.token = server.enroll("K01")
        runtime = IlsRuntime(e.client, e.desk, e.forwarder)
        reporter = DeviceStatusReporter(clock=e.env.clock, software_version="0.1.0",
                                        pending=e.env.store.pending_count, ils=runtime)
        self.engine = SyncEngine(e.env.store, RecordServerClient(server.url, "K01", self.token),
                                 clock=e.env.clock, device_status=reporter)


@pytest.fixture(name="kiosk")
def kiosk_fixture(tmp_path: Path, test_ils: TestIls,  # noqa: F811
                  console: ServerProcess) -> Iterator[SipKiosk]:
    e = make_ils_env(tmp_path / "k.sqlite3", test_ils)
    yield SipKiosk(e, console)
    e.client.close()
    e.env.store.close()


def _rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_ils_link_and_refusal_reach_the_console_and_resolving_is_recorded(
        browser: Browser, console: ServerProcess, kiosk: SipKiosk, lang: str) -> None:
    e = kiosk.e
    down(e)
    session = e.env.services.returns.start()
    assert [session.scan(b).outcome for b in (ON_LOAN, ON_SHELF)] == [ReturnOutcome.QUEUED] * 2
    session.finish()
    kiosk.engine.sync_once()
    [(state, err, queued)] = _rows(console, "SELECT ils_state, ils_last_error, ils_queued"
                                            " FROM kiosk_status")
    assert (state, err, queued) == ("down", "ils.unreachable", 2)
    page = log_in(browser, console, "supervisor", lang=lang)
    page.goto("/console/dashboard")
    row = page.locator("#kiosk-health tr[data-kiosk=K01]")
    assert row.locator("td.ils").get_attribute("data-ils") == "down"
    assert row.locator("[data-alert='console.alert.ils_down']").inner_text() == (
        "ILS 无法连接" if lang == "zh_CN" else "ILS unreachable")
    assert ("2 笔待转发" if lang == "zh_CN" else "2 queued") in row.locator("td.ils").inner_text()
    assert visible_keys(page) == []

    up(e)
    assert e.forwarder.forward() == (1, 1)  # 活着 is on the shelf: the ILS refuses its return
    kiosk.engine.sync_once()
    assert e.env.store.pending_count() == 0
    page.reload()
    assert row.locator("td.ils").get_attribute("data-ils") == "up"
    assert row.locator("[data-alert='console.alert.ils_down']").count() == 0
    page.goto("/console/ils")
    item = page.locator(f"#ils-exceptions tr[data-key='{ON_SHELF}']")
    assert "未借出" in item.locator("td.answer").inner_text()
    assert visible_keys(page) == []
    item.locator("input[name=note]").fill("已在 ILS 中核对")
    click_and_load(page, item.locator("button[type=submit]"))
    assert page.locator("main .notice").count() == 1  # the base layout shows the notice
    assert page.locator("#ils-exceptions tr[data-key]").count() == 0  # nothing open
    [(decision, staff)] = _rows(console, "SELECT decision, staff_no FROM review_resolutions"
                                         " WHERE item_kind = 'ils'")
    assert (decision, staff) == ("upheld", "S0001")
    [(before, after)] = _rows(console, "SELECT before, after FROM audit_log"
                                       " WHERE action = 'review.ils'")
    assert json.loads(before)["key"] == ON_SHELF and json.loads(after)["resolved"] is True
    page.context.close()


def test_hostile_ils_refused_events_are_refused_by_name(console: ServerProcess,
                                                        kiosk: SipKiosk) -> None:
    at = START.isoformat()
    good = {"queue_kind": "fee_paid", "key": "K01-20261124-0001", "answer": "no",
            "queued_at": at, "amount": 100}
    cases = {
        "ils_refused_other_kiosk": {**good, "key": "K02-20261124-0001"},
        "ils_refused_amount": {**good, "amount": None},
        "ils_refused_time": {**good, "queued_at": START.replace(year=2027).isoformat()},
    }
    seq = 1
    for reason, payload in cases.items():
        event = {"event_id": str(uuid.uuid4()), "kiosk_id": "K01", "seq": seq,
                 "kind": "ils.refused", "occurred_at": at, "payload": payload}
        resp = console.post("/api/v1/kiosks/K01/events", kiosk.token, json={"events": [event]})
        assert resp.status_code == 200, resp.text
        [result] = resp.json()["results"]
        assert (result["status"], result["detail"]) == (
            "rejected", reason), result
        seq += 1
    for bad in ({**good, "answer": "x" * 501}, {**good, "key": "a b"},
                {**good, "queue_kind": "loan"}, {**good, "extra": 1}):
        event = {"event_id": str(uuid.uuid4()), "kiosk_id": "K01", "seq": seq,
                 "kind": "ils.refused", "occurred_at": at, "payload": bad}
        resp = console.post("/api/v1/kiosks/K01/events", kiosk.token, json={"events": [event]})
        [result] = resp.json()["results"]
        assert result["status"] == "rejected", result
        seq += 1
    assert _rows(console, "SELECT count(*) FROM ils_exceptions") == [(0,)]


def test_new_readers_export_for_the_ils(browser: Browser, console: ServerProcess,
                                        kiosk: SipKiosk, tmp_path: Path) -> None:
    cards = kiosk.e.env.services.cards
    issued = []
    for seq in (1, 2):
        kiosk.e.env.writer.place_blank()
        issued.append(cards.new_card(make_reader(seq), Tender.payment_code(WECHAT_CODE)).card_no)
        kiosk.e.env.writer.tapped()
    kiosk.engine.sync_once()
    assert kiosk.e.env.store.pending_count() == 0
    since = START.date().isoformat()

    page = log_in(browser, console, "supervisor", lang="en")
    page.goto("/console/ils")
    page.fill("#ils-export input[name=since]", since)
    page.select_option("#ils-export select[name=format]", "koha-csv")
    with page.expect_download() as dl:
        page.click("#ils-export button[type=submit]")
    body = Path(dl.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == ["cardnumber", "surname", "firstname", "categorycode", "branchcode",
                             "dateenrolled", "dateexpiry", "phone", "userid"]
    assert sorted((r["cardnumber"], r["surname"], r["categorycode"], r["phone"]) for r in rows) == [
        (issued[0], "张小明1", "ADULT", "13800000001"), (issued[1], "张小明2", "ADULT", "13800000002")]
    assert all(r["dateenrolled"] == since and r["branchcode"] == "main" for r in rows)
    assert make_reader(1).id_number not in body  # not unless the library asks
    page.context.close()

    out = tmp_path / "generic.csv"
    console.cli("export-readers", "--since", since, "--format", "generic-csv", "--output", str(out))
    generic = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert sorted(r["card_no"] for r in generic) == issued and "id_number" not in generic[0]
    folio = json.loads(console.cli("export-readers", "--since", since, "--format", "folio-json"))
    assert folio["totalRecords"] == 2 and {u["barcode"] for u in folio["users"]} == set(issued)
    assert console.cli("export-readers", "--since", "2099-01-01", "--format",
                       "koha-csv").strip().splitlines() == [",".join(
                           ["\ufeffcardnumber", "surname", "firstname", "categorycode",
                            "branchcode", "dateenrolled", "dateexpiry", "phone", "userid"])]
    audits = _rows(console, "SELECT staff_no, after FROM audit_log"
                            " WHERE action = 'readers.export_ils' ORDER BY id")
    assert [(s, json.loads(a)["rows"]) for s, a in audits] == [
        ("S0001", 2), ("cli", 2), ("cli", 2), ("cli", 0)]

    desk = log_in(browser, console, "desk", lang="zh_CN")
    desk.goto("/console/ils")
    assert desk.locator("#ils-export").count() == 0
    csrf = desk.locator("input[name=csrf_token]").first if desk.locator("input[name=csrf_token]").count() else None
    resp = desk.context.request.post(f"{console.url}/console/ils/export-readers",
                                     form={"since": since, "format": "koha-csv",
                                           "csrf_token": csrf.get_attribute("value") if csrf else ""},
                                     max_redirects=0)
    assert resp.status == 403
    assert len(_rows(console, "SELECT id FROM audit_log WHERE action = 'readers.export_ils'")) == 4
    desk.context.close()

"""The console's reports side in Chromium against the real server (issue 12 points 2, 3, 4, 6,
7): every page renders in both languages with no message id showing; the CSV and XLSX exports
open with openpyxl and equal the JSON report of the same range; a supervisor resolves a review
item (recorded and audited) and an auditor cannot; bad report input is refused by name.

The kiosk-side acceptance (paper near end through the real sync client, the roster of two
kiosks' visitors, the retention purge) is in tests/integration/test_console_kiosks.py.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    log_in,
    start_console_server,
    visible_keys,
)
from tests.support.server_process import (  # noqa: F401
    KioskEvents,
    ServerProcess,
    server_factory_fixture,
)

DAY = "2026-11-24"
PAGES = ("/console/dashboard", f"/console/reports?period=range&start={DAY}&end={DAY}",
         "/console/reports?period=month&month=2026-11", "/console/reports?period=day&day=" + DAY
         + "&scope=kiosk:K01", f"/console/finance?period=range&start={DAY}&end={DAY}",
         "/console/visitors", "/console/visitors/roster", "/console/review",
         "/console/review?tab=rejected&show=all", "/console/review?tab=offline")


def _push(server: ServerProcess, token: str, kiosk_id: str,
          events: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    resp = server.post(f"/api/v1/kiosks/{kiosk_id}/events", token,
                       json={"events": events, **extra})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["results"])


@pytest.fixture(name="console", scope="module")
def console_fixture(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    """A server with two kiosks' day: readers, cards, renewals, payments, visits, a conflict
    and a rejected event."""
    root = tmp_path_factory.mktemp("console-reports")
    made: list[ServerProcess] = []

    def factory(db_url: str | None = None, **kw: Any) -> ServerProcess:
        server = ServerProcess(root / f"s{len(made)}", db_url, **kw)
        made.append(server)
        return server

    server = start_console_server(factory)
    t1, t2 = server.enroll("K01"), server.enroll("K02", branch="east")
    k1, k2 = KioskEvents("K01", DAY), KioskEvents("K02", DAY)
    card1, card2 = k1.card(1), k2.card(2)
    _push(server, t1, "K01", k1.new_reader("r1", 1, card1) + [k1.visit("K01-V000001")])
    _push(server, t2, "K02", k2.new_reader("r2", 2, card2) + k2.renew_paid(card2, "r2"))
    desk = server.staff_token("S0002")
    assert server.post(f"/api/v1/cards/{card1}/block", desk,
                       json={"reason": "lost"}).status_code == 200
    res = _push(server, t2, "K02", k2.renew_paid(card1, "r1", months=12))
    assert res[-1]["status"] == "conflict", res
    bad = k1.env("payment.recorded", {  # pays a fee that does not exist: rejected, stored
        "payment_id": "pay-bad", "reader_id": "r1", "receipt_no": k1.receipt_no(),
        "method": "wechat", "amount": 700, "allocations": [{"fee_id": "nope", "amount": 700}]})
    assert _push(server, t1, "K01", [bad])[0]["status"] == "rejected"
    yield server
    for s in made:
        s.terminate()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_page_renders_in_both_languages(browser: Browser, console: ServerProcess,
                                              lang: str, tmp_path: Path) -> None:
    """... and ``CONSOLE_SCREENSHOTS=<dir>`` saves the month's report there (zh, en)."""
    page = log_in(browser, console, "auditor", lang=lang)
    for path in PAGES:
        resp = page.goto(path)
        assert resp is not None and resp.status == 200, (path, resp and resp.status)
        assert page.locator("main h1").count() == 1, path
        assert visible_keys(page) == [], (path, visible_keys(page))
    page.goto(f"/console/reports?period=month&month={DAY[:7]}")
    assert page.locator("svg.chart").count() >= 2  # charts drawn on the server
    target = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    name = f"console-report-{'zh' if lang == 'zh_CN' else 'en'}.png"
    page.screenshot(path=str(target / name), full_page=True)
    assert (target / name).stat().st_size > 10_000
    page.context.close()


def _flatten(report: dict[str, Any]) -> list[list[Any]]:
    """The JSON report as rows, written here apart from the server's own table code."""
    rows: list[list[Any]] = []
    scopes = [("total", report["totals"])]
    scopes += [(f"{kind}:{k}", v) for kind, key in (("kiosk", "by_kiosk"), ("branch", "by_branch"),
                                                    ("day", "by_day"))
               for k, v in report[key].items()]
    for scope, fig in scopes:
        for metric in ("cards_issued", "cards_renewed", "cards_replaced", "cards_blocked",
                       "returns", "visitors"):
            rows.append([scope, metric, "", fig[metric], None])
        for group in ("fees_assessed", "payments"):
            for key, v in fig[group].items():
                rows.append([scope, group, key, v["count"], v["amount"]])
        rows.append([scope, "refunds", "", fig["refunds"]["count"], fig["refunds"]["amount"]])
        rows.append([scope, "credited", "", None, fig["credited"]])
    rows.append(["total", "on_site_now", "", report["on_site_now"], None])
    return [[report["from"], report["to"], *r] for r in rows]


def test_csv_and_xlsx_exports_equal_the_json_report(browser: Browser,
                                                    console: ServerProcess) -> None:
    token = console.staff_token("S0002")
    api = console.get(f"/api/v1/reports/range?from={DAY}&to={DAY}", token)
    assert api.status_code == 200, api.text
    report = api.json()
    expected = _flatten(report)
    assert report["totals"]["cards_issued"] == 2 and report["totals"]["payments_total"] > 0
    daily = console.get(f"/api/v1/reports/daily?date={DAY}", token).json()
    assert daily["totals"] == report["totals"]  # the one-day range is the daily report

    page = log_in(browser, console, "auditor", lang="en")
    page.goto(f"/console/reports?period=range&start={DAY}&end={DAY}")
    hrefs = {fmt: page.get_attribute(f"a[data-export={fmt}]", "href") for fmt in ("csv", "xlsx")}
    got_csv = page.context.request.get(console.url + str(hrefs["csv"]))
    assert got_csv.status == 200 and got_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(got_csv.body().decode("utf-8-sig"))))
    assert rows[0] == ["from", "to", "scope", "metric", "key", "count", "amount_fen"]
    as_text = [["" if v is None else str(v) for v in r] for r in expected]
    assert rows[1:] == as_text
    api_csv = console.get(f"/api/v1/reports/range?from={DAY}&to={DAY}&format=csv", token)
    assert list(csv.reader(io.StringIO(api_csv.text))) == rows

    got_xlsx = page.context.request.get(console.url + str(hrefs["xlsx"]))
    assert got_xlsx.status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(got_xlsx.body()), read_only=True).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0] == ["from", "to", "scope", "metric", "key", "count", "amount_fen"]
    assert [[None if v == "" else v for v in r] for r in cells[1:]] == [
        [None if v == "" else v for v in r] for r in expected]
    for fmt in ("csv", "xlsx"):  # the ledger exports too
        resp = page.context.request.get(
            f"{console.url}/console/finance/export?start={DAY}&end={DAY}&fmt={fmt}")
        assert resp.status == 200 and len(resp.body()) > 50
    page.context.close()


def test_bad_report_input_is_refused_by_name(browser: Browser, console: ServerProcess) -> None:
    page = log_in(browser, console, "desk", lang="en")
    for path, reason in ((f"/console/reports?period=range&start={DAY}&end=2026-11-01",
                          "console.error.bad_range"),
                         ("/console/reports?period=day&day=2026-13-40", "console.error.bad_date"),
                         ("/console/reports?period=week", "console.error.bad_period"),
                         ("/console/reports?scope=kiosk:K99", "console.error.bad_scope")):
        resp = page.goto(path)
        assert resp is not None and resp.status in (404, 422), path
        assert page.get_attribute("[data-reason]", "data-reason") == reason
        assert visible_keys(page) == []
    token = console.staff_token("S0002")
    too_long = console.get("/api/v1/reports/range?from=2025-01-01&to=2026-11-24", token)
    assert too_long.status_code == 422
    page.context.close()


def _db_rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def test_auditor_cannot_resolve_and_a_supervisor_resolution_is_recorded(
        browser: Browser, console: ServerProcess) -> None:
    [(event_id,)] = _db_rows(console, "SELECT event_id FROM events WHERE status = 'rejected'")
    auditor = log_in(browser, console, "auditor", lang="zh_CN")
    auditor.goto("/console/review?tab=rejected")
    assert "fee" in auditor.inner_text("#review-items")  # the server's reason is shown
    assert auditor.locator("form.c2-resolve").count() == 0  # no form for an auditor
    csrf = auditor.evaluate("() => document.querySelector('input[name=csrf_token]').value")
    resp = auditor.context.request.post(
        f"{console.url}/console/review/rejected/{event_id}/resolve",
        form={"csrf_token": csrf, "decision": "noted", "note": "auditor tries"}, max_redirects=0)
    assert resp.status == 403
    assert _db_rows(console, "SELECT count(*) FROM review_resolutions")[0][0] == 0
    auditor.context.close()

    sup = log_in(browser, console, "supervisor", lang="zh_CN")
    sup.goto("/console/review?tab=rejected")
    row = sup.locator(f"tr[data-item='{event_id}']")
    row.locator("input[name=note]").fill("已与自助机核对，重复扣款未发生")
    row.locator("select[name=decision]").select_option("noted")
    click_and_load(sup, row.locator("button[type=submit]"))
    assert "已记录处理结果" in sup.inner_text("main")
    [(decision, note, staff)] = _db_rows(
        console, "SELECT decision, note, staff_no FROM review_resolutions")
    assert (decision, staff) == ("noted", "S0001") and "核对" in note
    audits = _db_rows(console, "SELECT action, target, reason FROM audit_log "
                               "WHERE action LIKE 'review.%'")
    assert [(a, t) for a, t, _r in audits] == [("review.rejected", event_id)]
    # resolved twice: refused by name, nothing more recorded
    csrf = sup.evaluate("() => document.querySelector('input[name=csrf_token]').value")
    again = sup.context.request.post(
        f"{console.url}/console/review/rejected/{event_id}/resolve",
        form={"csrf_token": csrf, "decision": "upheld", "note": "again"}, max_redirects=0)
    assert again.status == 409
    [(conflict_id,)] = _db_rows(console, "SELECT id FROM conflicts WHERE resolved = false")
    empty = sup.context.request.post(
        f"{console.url}/console/review/conflict/{conflict_id}/resolve",
        form={"csrf_token": csrf, "decision": "upheld", "note": "  "}, max_redirects=0)
    assert empty.status == 422
    assert _db_rows(console, "SELECT count(*) FROM review_resolutions")[0][0] == 1
    sup.context.close()


def test_dashboard_counts_today_from_the_report(browser: Browser,
                                                console: ServerProcess) -> None:
    page = log_in(browser, console, "desk", lang="en")
    page.goto("/console/dashboard")
    rows = page.locator("#kiosk-health tr[data-kiosk]")
    assert rows.count() == 2
    token = console.staff_token("S0002")
    today = console.get("/api/v1/reports/daily", token).json()["totals"]
    assert page.inner_text("[data-metric=cards_issued]") == str(today["cards_issued"])
    # pushed a moment ago: not silent; no device status sent (raw pushes): shown as such
    assert page.locator("tr[data-kiosk=K01] [data-alert='console.alert.silent']").count() == 0
    assert page.inner_text("tr[data-kiosk=K01] td.printer") == "not reported"
    page.context.close()



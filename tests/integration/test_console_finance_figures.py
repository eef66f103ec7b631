"""The finance page's figures are the sums of the payments actually ingested (issue 12.4), in
Chromium against the real record server process, in both languages.

Kiosk K01's own use cases make the day's money: new cards paid with WeChat Pay and Alipay codes
yesterday, today one more by WeChat Pay and two in cash taken by the desk member (logged in
through the server, so the cash events carry their staff proof); the supervisor closes today with
the drawer counted one yuan short. The kiosk's sync client pushes everything through the real
ingest. The page's totals per day and method, and the kiosk's end-of-day check (cash expected by
the kiosk and by the server, the counted cash and its highlighted difference), must equal what
the test sums from the pushed ``payment.recorded`` events.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from kiosk.services.common import Tender
from kiosk.services.staff_auth import ServerStaffAuthority
from library_core.clock import CHINA_TZ, FixedClock
from library_core.i18n import translate, translate_plural
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    log_in,
    start_console_server,
    visible_keys,
)
from tests.support.server_process import STAFF_PIN, ServerProcess
from tests.support.services import ALIPAY_CODE, WECHAT_CODE, make_env, make_reader

SHORT = 100  # the drawer counted one yuan short


def _yuan(fen: int) -> str:
    return f"¥{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@pytest.fixture(name="day", scope="module")
def day_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("figures")
    made: list[ServerProcess] = []

    def factory(db_url: str | None = None, **kw: Any) -> ServerProcess:
        made.append(ServerProcess(root / f"s{len(made)}", db_url, **kw))
        return made[-1]

    server = start_console_server(factory)
    client = RecordServerClient(server.url, "K01", server.enroll("K01"), retries=1,
                                backoff_s=0.01)
    now = dt.datetime.now(CHINA_TZ).replace(microsecond=0)  # staff sessions are the server's
    # yesterday's at 10:00 and 10:07, 10:14; today's all at now (no advance over midnight)
    clock = FixedClock(dt.datetime.combine(now.date() - dt.timedelta(days=1), dt.time(10),
                                           tzinfo=CHINA_TZ))
    env = make_env(root / "k01.sqlite3", clock=clock, staff_authority=ServerStaffAuthority(client))
    sync = SyncEngine(env.store, client, clock=clock)
    try:
        cards = env.services.cards
        for seq, code in ((1, WECHAT_CODE), (2, WECHAT_CODE), (3, ALIPAY_CODE)):  # yesterday
            env.writer.place_blank()
            cards.new_card(make_reader(seq), Tender.payment_code(code))
            clock.advance(minutes=7)
        clock.set(now)
        env.writer.place_blank()
        cards.new_card(make_reader(4), Tender.payment_code(WECHAT_CODE))
        desk = env.services.staff.login("S0002", STAFF_PIN)
        for seq in (5, 6):
            env.writer.place_blank()
            cards.new_card(make_reader(seq), Tender.cash_by(desk))
        pushed = env.store.pending_events(10_000)
        cash = sum(e["payload"]["amount"] for e in pushed
                   if e["kind"] == "payment.recorded" and e["payload"]["method"] == "cash")
        supervisor = env.services.staff.login("S0001", STAFF_PIN)
        report, _receipt = env.services.staff.close_day(supervisor, cash_counted=cash - SHORT)
        pushed = env.store.pending_events(10_000)
        sync.sync_once()
        assert env.store.pending_count() == 0
        yield {"server": server, "pushed": pushed, "today": now.date().isoformat(),
               "yesterday": (now - dt.timedelta(days=1)).date().isoformat(),
               "report": report, "cash": cash}
    finally:
        env.store.close()
        for s in made:
            s.terminate()


def _sums(pushed: list[dict[str, Any]]) -> dict[str, dict[str, list[int]]]:
    """Per library-local day and method: [count, fen] of the pushed payments (written here from
    the events, apart from the server's report code)."""
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for e in pushed:
        if e["kind"] != "payment.recorded":
            continue
        day = dt.datetime.fromisoformat(e["occurred_at"]).astimezone(CHINA_TZ).date().isoformat()
        cell = out[day][e["payload"]["method"]]
        cell[0] += 1
        cell[1] += e["payload"]["amount"]
    return out


def _by_day(page: Page) -> dict[str, dict[str, str]]:
    out = {}
    for row in page.locator("#by-day tbody tr[data-day]").all():
        cells = {str(c.get_attribute("data-method") or c.get_attribute("data-col")):
                 c.inner_text().strip() for c in row.locator("td[data-method], td[data-col]").all()}
        out[str(row.get_attribute("data-day"))] = cells
    return out


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_finance_figures_equal_the_sums_of_the_ingested_payments(
        browser: Browser, day: dict[str, Any], lang: str) -> None:
    server, today, yesterday = day["server"], day["today"], day["yesterday"]
    sums = _sums(day["pushed"])
    assert set(sums) == {yesterday, today}
    assert set(sums[yesterday]) == {"wechat", "alipay"} and set(sums[today]) == {"wechat", "cash"}
    page = log_in(browser, server, "auditor", lang=lang)
    resp = page.goto(f"/console/finance?period=range&start={yesterday}&end={today}")
    assert resp is not None and resp.status == 200
    assert visible_keys(page) == []
    shown = _by_day(page)
    assert set(shown) == {yesterday, today}
    for d, methods in sums.items():
        for method in ("wechat", "alipay", "cash"):
            if method in methods:
                count, fen = methods[method]
                assert shown[d][method] == f"{_yuan(fen)} ({count})", (d, method)
            else:
                assert shown[d][method] == "–", (d, method)
        assert shown[d]["total"] == _yuan(sum(fen for _, fen in methods.values())), d
        assert shown[d]["refunds"] == _yuan(0)

    # today's end-of-day check of K01: cash expected by the kiosk and the server, counted short
    check = page.locator(f"article.c2-check[data-kiosk=K01][data-day='{today}']")
    assert check.count() == 1
    cash = sums[today]["cash"][1]
    assert cash == day["cash"] == day["report"].cash_expected
    expected = check.locator("tr[data-line=cash_expected]")
    assert [c.inner_text().strip() for c in expected.locator("td").all()] == [_yuan(cash)] * 2
    assert "diff" not in (expected.get_attribute("class") or "")
    counted = check.locator("tr[data-line=cash_counted]")
    assert [c.inner_text().strip() for c in counted.locator("td").all()] == [
        _yuan(cash - SHORT), _yuan(cash)]
    assert "diff" in (counted.get_attribute("class") or "")  # the difference highlighted
    assert counted.locator("[data-cash-diff]").inner_text() == (
        f"{translate('console.recon.difference', lang)} {_yuan(-SHORT)}")
    assert counted.evaluate("e => getComputedStyle(e.querySelector('td')).fontWeight") == "700"
    for method in ("wechat", "cash"):
        line = check.locator(f"tr[data-line='taken:{method}']")
        assert [c.inner_text().strip() for c in line.locator("td").all()] == [
            _yuan(sums[today][method][1])] * 2
        assert "diff" not in (line.get_attribute("class") or "")
    badge = check.locator("h3 .c2-badge.alert").inner_text()
    assert badge == translate_plural("console.fin.differences", 1, lang)  # the one: the count
    assert badge == {"en": "1 difference", "zh_CN": "1 处不符"}[lang]  # singular in English
    page.context.close()

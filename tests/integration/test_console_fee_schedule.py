"""The fee schedule edited in the back-office console (issue 12 point 10, acceptance) reaches a
real kiosk by its next pull and prices its renewals from its date, not before. A supervisor
sets it in Chromium against the real record server process (audited, published); the kiosk's
sync client pulls it; the kiosk's UI backend quotes and its card service charges the old fee
the day before and the new one on the day. A negative fee, no renewal period, a date in the
past or today are refused naming the field, with nothing changed; a desk member is refused."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text

from kiosk.services.common import Tender
from library_core.clock import CHINA_TZ
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    log_in,
    post_as,
    start_console_server,
    visible_keys,
)
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import WECHAT_CODE, make_reader


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Any]:
    """The kiosk's store, use cases and UI backend wired like ``kiosk.app_runtime`` does (demo
    config: its seed schedule is config/fees.toml), on today's date."""
    from config.settings import demo_settings_path, load_settings
    from kiosk.app_runtime import build_services
    from kiosk.services.payment import SimulatedPaymentGateway
    from kiosk.ui.backend import Backend
    from library_core.clock import FixedClock
    from server_client.store import Store
    from tests.support.services import MemoryCardWriter, add_staff

    settings = load_settings(demo_settings_path(), env={})
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id=settings.kiosk.id)
    add_staff(store)
    clock = FixedClock(dt.datetime.now(CHINA_TZ).replace(hour=10, minute=0, second=0,
                                                         microsecond=0))
    writer, gateway = MemoryCardWriter(), SimulatedPaymentGateway()
    services = build_services(settings, store=store, clock=clock, card_reader=writer,
                              gateway=gateway)
    backend = Backend(settings=settings, clock=clock, store=store, services=services,
                      card_reader=writer, scanner=None, printer=None, parser=None)
    yield backend, writer, gateway
    store.close()


def _rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _state(server: ServerProcess) -> dict[str, list[Any]]:
    return {"schedules": _rows(server, "SELECT * FROM fee_schedules ORDER BY effective_from"),
            "changes": _rows(server, "SELECT entity_id, seq, data FROM changes"
                                     " WHERE entity = 'fee_schedule' ORDER BY entity_id"),
            "audit": _rows(server, "SELECT id FROM audit_log WHERE action = 'fee_schedule.save'")}


def _fill(page: Page, **values: str) -> None:
    for name, value in values.items():
        page.fill(f"form[data-form=fees] input[name='{name}']", value)
    click_and_load(page, "button[data-action=save-fees]")


def test_a_schedule_set_in_the_console_prices_a_kiosk_from_its_date(
        kiosk: Any, browser: Browser,
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    backend, writer, gateway = kiosk
    store, clock = backend.store, backend.clock
    server = start_console_server(server_factory)
    token = server.enroll(store.kiosk_id)
    engine = SyncEngine(store, RecordServerClient(server.url, store.kiosk_id, token, retries=1,
                                                  backoff_s=0.01), clock=clock)
    engine.sync_once()
    old_fee = backend.renewal_fee(12)
    today = clock.now().date()
    effective = today + dt.timedelta(days=2)

    page = log_in(browser, server, "supervisor", lang="zh_CN")
    page.goto("/console/fees")
    assert visible_keys(page) == []
    assert page.inner_text("[data-current=renewal_fee]") == f"￥{old_fee / 100:.2f}"
    _fill(page, effective_from=effective.isoformat(), renewal_fee="23.00",
          **{"categories.adult.card_fee": "15.50"})
    assert "已保存" in page.inner_text("main .notice")
    assert effective.isoformat() in page.inner_text("#later")
    assert page.inner_text("[data-current=renewal_fee]") == f"￥{old_fee / 100:.2f}"  # not yet
    (entry,) = _rows(server, "SELECT staff_no, target, before, after FROM audit_log"
                             " WHERE action = 'fee_schedule.save'")
    assert entry[:2] == ("S0001", effective.isoformat()) and json.loads(entry[2]) == {}
    assert json.loads(entry[3])["renewal_fee"] == 2300
    click_and_load(page, "nav.lang a[lang=en]")
    assert "Schedules set for later days" in page.inner_text("main") and visible_keys(page) == []

    # the kiosk's next pull holds it; the day before it applies, the old fee
    assert backend.renewal_fee(12) == old_fee
    engine.sync_once()
    assert store.pulled_fee_schedule(effective)["renewal_fee"] == 2300
    clock.set(clock.now() + dt.timedelta(days=1))
    assert backend.renewal_fee(12) == old_fee
    writer.place_blank()
    backend.cards.new_card(make_reader(3), Tender.payment_code(WECHAT_CODE))
    uid, raw = writer.tapped()
    before = backend.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    assert before.amount == old_fee == gateway.charges[-1].amount

    # from its date: the new fees, for the quote and the charge alike
    clock.set(clock.now() + dt.timedelta(days=1))
    assert clock.now().date() == effective
    assert backend.renewal_fee(12) == 2300
    assert backend.new_card_prices("adult")[0] == 1550
    uid, raw = writer.tapped()
    after = backend.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    assert after.amount == 2300 == gateway.charges[-1].amount
    engine.client.close()


@pytest.mark.parametrize(("values", "field"), [
    ({"renewal_fee": "-5.00"}, "renewal_fee"),
    ({"categories.child.deposit": "-0.01"}, "categories.child.deposit"),
    ({"renewal_periods_months": ""}, "renewal_periods_months"),
    ({"renewal_periods_months": "12, 0"}, "renewal_periods_months"),
    ({"loan_days": "0"}, "loan_days"),
    ({"replacement_fee": "15.005"}, "replacement_fee"),
    ({"effective_from": "past"}, "effective_from"),
    ({"effective_from": "today"}, "effective_from"),
])
def test_a_bad_schedule_is_refused_naming_the_field(
        browser: Browser, server_factory: Callable[..., ServerProcess],  # noqa: F811
        values: dict[str, str], field: str) -> None:
    server = start_console_server(server_factory)
    today = dt.datetime.now(CHINA_TZ).date()
    days = {"past": today - dt.timedelta(days=3), "today": today}
    if values.get("effective_from") in days:
        values = {"effective_from": days[values["effective_from"]].isoformat()}
    before = _state(server)
    page = log_in(browser, server, "supervisor", lang="en")
    page.goto("/console/fees")
    page.fill("input[name=effective_from]", (today + dt.timedelta(days=5)).isoformat())
    page.eval_on_selector("form[data-form=fees]", "f => f.noValidate = true")
    _fill(page, **values)
    refused = page.locator("main .error")
    assert refused.get_attribute("data-field") == field
    assert "Not saved" in refused.inner_text() and visible_keys(page) == []
    assert _state(server) == before  # nothing stored, published or audited
    for name, value in values.items():  # the form keeps what was typed
        assert page.input_value(f"form[data-form=fees] input[name='{name}']") == value


def test_desk_and_auditor_are_refused_and_a_date_that_is_none_too(
        browser: Browser, server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server = start_console_server(server_factory)
    before = _state(server)
    tomorrow = (dt.datetime.now(CHINA_TZ).date() + dt.timedelta(days=1)).isoformat()
    for role in ("desk", "auditor"):
        page = log_in(browser, server, role, lang="zh_CN")
        page.goto("/console/fees")
        assert page.locator("form[data-form=fees]").count() == 0  # they only read it
        assert page.locator("[data-current=renewal_fee]").count() == 1
        form = {"effective_from": tomorrow, "renewal_fee": "1.00"}
        assert post_as(page, "/console/fees", form) == 403
    page = log_in(browser, server, "supervisor", lang="zh_CN")
    for day in ("2026-02-30", "明天", ""):  # what a date field cannot send, posted by hand
        assert post_as(page, "/console/fees", {**form, "effective_from": day}) == 422
    assert _state(server) == before

"""E-receipt links expire (issue 12 point 12): the real server process is configured with
``RECORD_SERVER_ERECEIPT_DAYS=2``; kiosk K01's own use cases issue one new card three days ago
(its clock then; the kiosk was offline) and one today, and its sync client pushes both. In a
phone-sized Chromium page the old receipt's link answers 410 "expired" in Chinese and English,
showing nothing of the receipt; today's opens; a link at the day's edge still opens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from library_core.clock import CHINA_TZ, FixedClock
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.console_browser import browser_fixture, visible_keys  # noqa: F401
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import make_env

PHONE = {"width": 390, "height": 844}


def test_an_e_receipt_link_answers_expired_after_the_configured_days(
        browser: Browser, server_factory: Callable[..., ServerProcess],  # noqa: F811
        tmp_path: Path) -> None:
    server = server_factory(env={"RECORD_SERVER_ERECEIPT_DAYS": "2"})
    server.cli("migrate")
    server.start()
    token = server.enroll("K01")
    now = dt.datetime.now(CHINA_TZ).replace(microsecond=0)
    clock = FixedClock(now - dt.timedelta(days=3))
    env = make_env(tmp_path / "kiosk.sqlite3", clock=clock,
                   ereceipt_base_url=server.url, library_name_en="City Library")
    old = env.new_card(1).receipt
    clock.set(now - dt.timedelta(days=2) + dt.timedelta(minutes=10))  # just inside 2 days
    edge = env.new_card(2).receipt
    clock.set(now)
    new = env.new_card(3).receipt
    client = RecordServerClient(server.url, "K01", token, retries=1, backoff_s=0.01)
    report = SyncEngine(env.store, client, clock=clock).sync_once()
    assert report.applied == report.pushed > 0 and report.rejected == 0, report
    engine = create_engine(server.database_url)
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT receipt_no FROM ereceipts")).scalars())
    engine.dispose()
    assert stored >= {old.receipt_no, edge.receipt_no, new.receipt_no}

    page = browser.new_context(viewport=PHONE, is_mobile=True).new_page()  # type: ignore[arg-type]
    answer = page.goto(old.qr)
    assert answer is not None and answer.status == 410
    assert page.get_attribute("main", "data-missing") == "ereceipt.expired"
    assert "已过期" in page.inner_text("main") and "2 天" in page.inner_text("main")
    assert old.receipt_no not in page.inner_text("main") and visible_keys(page) == []
    answer = page.goto(old.qr + "?lang=en")
    assert answer is not None and answer.status == 410
    assert "expired" in page.inner_text("main") and "2 days" in page.inner_text("main")
    assert old.receipt_no not in page.inner_text("main") and visible_keys(page) == []
    for fresh in (edge, new):
        answer = page.goto(fresh.qr)
        assert answer is not None and answer.status == 200, fresh.receipt_no
        assert fresh.receipt_no in page.inner_text("main")
    page.context.close()
    client.close()
    env.store.close()

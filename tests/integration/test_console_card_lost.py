"""A card reported lost in the back-office console is refused by a real kiosk after its next
pull (issue 12 point 5, acceptance): the kiosk's own use case issues the card and pushes it to
the real record server process; a desk member finds the reader in Chromium by card number and
reports the card lost; the kiosk's sync client pulls once and its card service refuses the card
with ``card.lost``. The action is in the server's audit log with who, before and after.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from kiosk.services.common import Tender
from library_core.errors import DomainError
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    log_in,
    start_console_server,
)
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import WECHAT_CODE, make_reader


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Any]:
    """The kiosk's store, use cases and UI backend wired like ``kiosk.app_runtime`` does."""
    from config.settings import demo_settings_path, load_settings
    from kiosk.app_runtime import build_services
    from kiosk.services.payment import SimulatedPaymentGateway
    from kiosk.ui.backend import Backend
    from library_core.clock import FixedClock
    from server_client.store import Store
    from tests.support.services import START, MemoryCardWriter, add_staff

    settings = load_settings(demo_settings_path(), env={})
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id=settings.kiosk.id)
    add_staff(store)
    clock, writer, gateway = FixedClock(START), MemoryCardWriter(), SimulatedPaymentGateway()
    services = build_services(settings, store=store, clock=clock, card_reader=writer,
                              gateway=gateway)
    backend = Backend(settings=settings, clock=clock, store=store, services=services,
                      card_reader=writer, scanner=None, printer=None, parser=None)
    yield backend, writer
    store.close()


def test_card_reported_lost_in_the_console_is_refused_after_the_next_pull(
        kiosk: Any, browser: Browser,
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    backend, writer = kiosk
    store = backend.store
    server = start_console_server(server_factory)
    token = server.enroll(store.kiosk_id)
    engine = SyncEngine(store, RecordServerClient(server.url, store.kiosk_id, token, retries=1,
                                                  backoff_s=0.01), clock=backend.clock)
    cards = backend.services["cards"]
    writer.place_blank()
    issued = cards.new_card(make_reader(1), Tender.payment_code(WECHAT_CODE))
    lost_card = writer.tapped()
    engine.sync_once()
    assert store.pending_count() == 0
    assert cards.identify_card(*lost_card) is not None  # a good card before

    page = log_in(browser, server, "desk", lang="zh_CN")
    page.goto(f"/console/readers?q={issued.card_no}")
    click_and_load(page, "table a")  # the one reader holding that card
    row = page.locator(f"tr[data-card='{issued.card_no}']")
    assert "有效" in row.inner_text()
    row.locator("input[name=note]").fill("读者来电挂失")
    click_and_load(page, row.locator("button[data-action=lost]"))
    assert "已挂失" in page.inner_text("main .notice")
    assert "已挂失" in page.locator(f"tr[data-card='{issued.card_no}']").inner_text()

    # before its next pull the kiosk still has the card as active; after it, refused
    assert store.read_one("SELECT status FROM cards WHERE card_no = ?",
                          (issued.card_no,))[0] == "active"
    engine.sync_once()
    assert store.read_one("SELECT status FROM cards WHERE card_no = ?",
                          (issued.card_no,))[0] == "lost"
    writer.place(*lost_card)
    with pytest.raises(DomainError) as refused:
        cards.identify_card(*lost_card)
    assert refused.value.message_id == "card.lost"

    engine_db = create_engine(server.database_url)
    try:
        with engine_db.connect() as conn:
            audit = conn.execute(text(
                "SELECT staff_no, action, target, before, after, reason FROM audit_log"
                " WHERE action = 'card.report_lost'")).one()
    finally:
        engine_db.dispose()
    assert (audit.staff_no, audit.target, audit.reason) == ("S0002", issued.card_no, "读者来电挂失")
    assert json.loads(audit.before) == {"status": "active"}
    assert json.loads(audit.after) == {"status": "lost"}

"""An offline staff action reaches the console's review queue and a supervisor resolves it
(issue 12 point 6), from the real producers: kiosk K01 (its store, services and sync client)
logs its staff in through the real record server process, loses the server, takes a cash new
card under the ``[staff.offline]`` policy with the desk member's offline proof, and pushes it
when the server is back; the server applies it as an ``offline_staff_action`` conflict. In
Chromium the queue shows it with the rule that decided (both languages); a desk member sees no
form and is refused the POST, nothing recorded; the supervisor resolves it, and the
resolution (decision, note, who) and its audit row are recorded and shown.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from kiosk.services.common import Tender
from kiosk.services.staff_auth import ServerStaffAuthority
from library_core.clock import CHINA_TZ, FixedClock
from library_core.staff_rules import OfflineStaffPolicy
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    csrf_of,
    log_in,
    start_console_server,
    visible_keys,
)
from tests.support.server_process import (  # noqa: F401
    STAFF_PIN,
    ServerProcess,
    server_factory_fixture,
)
from tests.support.services import make_env, make_reader

SUPERVISOR, DESK = "S0001", "S0002"  # start_console_server's staff (PIN STAFF_PIN)
NEW_CARD = 11_000  # deposit + card fee (config/fees.toml)


def _rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _offline_cash_new_card(tmp_path: Path, server: ServerProcess) -> None:
    """K01 takes a cash new card offline by the desk member and pushes it once back online."""
    client = RecordServerClient(server.url, "K01", server.enroll("K01"), retries=0,
                                backoff_s=0.01)
    env = make_env(tmp_path / "k01.sqlite3",
                   clock=FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0)),
                   staff_authority=ServerStaffAuthority(client),
                   offline_staff=OfflineStaffPolicy(cash_limit_fen=20_000,
                                                    day_cash_limit_fen=NEW_CARD + 5_000))
    engine = SyncEngine(env.store, client, clock=env.clock)
    env.services.staff.login(DESK, STAFF_PIN)  # online: the kiosk gets the desk's verifier
    engine.sync_once()
    online = env.services.staff.authority
    env.services.staff.authority = ServerStaffAuthority(  # the server out of reach
        RecordServerClient("http://127.0.0.1:9", "K01", "kt_x", retries=0, backoff_s=0.01))
    desk = env.services.staff.login(DESK, STAFF_PIN)
    assert desk.offline
    env.writer.place_blank()
    env.services.cards.new_card(make_reader(2), Tender.cash_by(desk))
    env.services.staff.authority = online
    engine.sync_once()
    problems = {p["kind"]: p for p in env.store.problem_events()}
    assert (problems["payment.recorded"]["status"],
            problems["payment.recorded"]["rule"]) == ("conflict", "offline_staff_action")
    env.store.close()


def test_an_offline_staff_action_is_reviewed_and_resolved_by_a_supervisor(
        tmp_path: Path, browser: Browser,
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server = start_console_server(server_factory)
    _offline_cash_new_card(tmp_path, server)
    [(conflict_id, kiosk_id, entity_id, detail)] = _rows(
        server, "SELECT id, kiosk_id, entity_id, detail FROM conflicts"
                " WHERE rule = 'offline_staff_action' AND resolved = false")
    assert (kiosk_id, entity_id) == ("K01", DESK)
    assert json.loads(detail)["amount"] == NEW_CARD

    # the desk member sees it with its rule, has no form, and is refused the POST
    desk = log_in(browser, server, "desk", lang="zh_CN")
    desk.goto("/console/review?tab=offline")
    row = desk.locator(f"tr[data-item='{conflict_id}']")
    assert "offline_staff_action" in row.inner_text()
    assert "离线限额内办理的操作已生效，等待主管复核" in row.locator("td.rule").inner_text()
    assert "¥110.00" in row.locator("td.subject").inner_text()
    assert "等待主管处理" in row.inner_text()
    assert row.locator("form.c2-resolve").count() == 0 and visible_keys(desk) == []
    refused = desk.context.request.post(
        f"{server.url}/console/review/offline/{conflict_id}/resolve", max_redirects=0,
        form={"csrf_token": csrf_of(desk), "decision": "upheld", "note": "desk tries"})
    assert refused.status == 403
    assert _rows(server, "SELECT count(*) FROM review_resolutions")[0][0] == 0
    assert _rows(server, "SELECT resolved FROM conflicts")[0][0] in (0, False)
    desk.context.close()

    # the supervisor resolves it in English
    sup = log_in(browser, server, "supervisor", lang="en")
    sup.goto("/console/review?tab=offline")
    assert "Offline staff actions (1)" in sup.inner_text(".c2-tabs") and visible_keys(sup) == []
    row = sup.locator(f"tr[data-item='{conflict_id}']")
    assert "awaits a supervisor's review" in row.locator("td.rule").inner_text()
    row.locator("select[name=decision]").select_option("upheld")
    row.locator("input[name=note]").fill("cash counted at close: 110.00 present")
    click_and_load(sup, row.locator("button[type=submit]"))
    assert sup.locator("form.c2-resolve").count() == 0
    sup.goto("/console/review?tab=offline&show=all")
    shown = sup.locator(f"tr[data-item='{conflict_id}']").inner_text()
    assert SUPERVISOR in shown and "cash counted" in shown
    [(decision, note, staff_no, item_kind)] = _rows(
        server, "SELECT decision, note, staff_no, item_kind FROM review_resolutions")
    assert (decision, staff_no, item_kind) == ("upheld", SUPERVISOR, "conflict")
    assert "110.00" in note
    assert _rows(server, "SELECT resolved FROM conflicts")[0][0] in (1, True)
    [(staff, action, target, kiosk, before, after, reason)] = _rows(
        server, "SELECT staff_no, action, target, kiosk_id, before, after, reason"
                " FROM audit_log WHERE action LIKE 'review.%'")
    assert (staff, action, target, kiosk) == (SUPERVISOR, "review.offline", str(conflict_id),
                                              "K01")
    assert json.loads(before)["rule"] == "offline_staff_action"
    assert json.loads(after) == {"resolved": True, "decision": "upheld"}
    assert "cash counted" in reason
    sup.context.close()

"""A kiosk's enrollment and revocation are one transaction with their audit row (issue 12
point 1: every change audited): against the real server process on SQLite, a trigger makes
the database refuse the ``kiosk.*`` audit row; the supervisor's enroll and revoke in Chromium
(and the JSON API's revoke) then fail and change nothing: no kiosk row, no code, the kiosk's
token still works. With the trigger gone, the same actions land with their audit rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    log_in,
    start_console_server,
)
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401

REFUSE_AUDIT = ("CREATE TRIGGER refuse_kiosk_audit BEFORE INSERT ON audit_log "
                "WHEN NEW.action LIKE 'kiosk.%' "
                "BEGIN SELECT RAISE(ABORT, 'audit write refused (test)'); END")


def _sql(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _kiosk_state(server: ServerProcess) -> list[Any]:
    return _sql(server, "SELECT kiosk_id, kiosk_no, branch, name, token_hash IS NOT NULL,"
                        " enroll_code_hash, enroll_expires_at, revoked_at"
                        " FROM kiosks ORDER BY kiosk_id")


def _kiosk_audits(server: ServerProcess) -> list[Any]:
    return _sql(server, "SELECT action, target, staff_no FROM audit_log"
                        " WHERE action LIKE 'kiosk.%' ORDER BY id")


def test_enroll_and_revoke_fail_whole_when_their_audit_row_cannot_be_written(
        browser: Browser, server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server = start_console_server(server_factory)
    token = server.enroll("K01")  # enrolled by the CLI (no staff, no console audit)
    page = log_in(browser, server, "supervisor", lang="en")
    _sql(server, REFUSE_AUDIT)
    before = _kiosk_state(server)

    # enroll a new kiosk: the audit row is refused, so no kiosk row and no code either
    page.goto("/console/kiosks")
    page.fill("form[action$='/enroll'] input[name=kiosk_id]", "K05")
    page.fill("form[action$='/enroll'] input[name=name]", "二楼")
    page.fill("form[action$='/enroll'] input[name=branch]", "east")
    with page.expect_response(lambda r: r.url.endswith("/console/kiosks/enroll")) as answer:
        click_and_load(page, "button[data-action=enroll]")
    assert answer.value.status == 500
    assert page.locator("[data-code]").count() == 0
    # re-enrolling K01 (a new code for it) is refused whole too: its old code state stays
    page.goto("/console/kiosks")
    page.fill("form[action$='/enroll'] input[name=kiosk_id]", "K01")
    page.fill("form[action$='/enroll'] input[name=branch]", "west")
    with page.expect_response(lambda r: r.url.endswith("/console/kiosks/enroll")) as answer:
        click_and_load(page, "button[data-action=enroll]")
    assert answer.value.status == 500
    assert _kiosk_state(server) == before

    # revoke K01 from the console and through the JSON API: refused whole, the token works
    page.goto("/console/kiosks")
    row = page.locator("tr[data-kiosk=K01]")
    row.locator("input[name=reason]").fill("stolen")
    with page.expect_response(lambda r: r.url.endswith("/console/kiosks/K01/revoke")) as answer:
        click_and_load(page, row.locator("button[data-action=revoke]"))
    assert answer.value.status == 500
    api = server.post("/api/v1/kiosks/K01/revoke", server.staff_token("S0001"))
    assert api.status_code == 500
    assert _kiosk_state(server) == before and _kiosk_audits(server) == []
    assert server.get("/api/v1/kiosks/K01/changes", token).status_code == 200

    # the audit row can be written again: each action lands with it
    _sql(server, "DROP TRIGGER refuse_kiosk_audit")
    page.goto("/console/kiosks")
    page.fill("form[action$='/enroll'] input[name=kiosk_id]", "K05")
    page.fill("form[action$='/enroll'] input[name=branch]", "east")
    click_and_load(page, "button[data-action=enroll]")
    code = page.inner_text("[data-code]").strip()
    enrolled = requests.post(f"{server.url}/api/v1/kiosks/enroll", timeout=10,
                             json={"kiosk_id": "K05", "code": code})
    assert enrolled.status_code == 200, enrolled.text
    page.goto("/console/kiosks")
    row = page.locator("tr[data-kiosk=K01]")
    row.locator("input[name=reason]").fill("stolen")
    click_and_load(page, row.locator("button[data-action=revoke]"))
    assert "Revoked" in page.locator("tr[data-kiosk=K01]").inner_text()
    assert server.get("/api/v1/kiosks/K01/changes", token).status_code == 401
    api = server.post("/api/v1/kiosks/K05/revoke", server.staff_token("S0001"))
    assert api.status_code == 200, api.text
    assert _kiosk_audits(server) == [("kiosk.enroll", "K05", "S0001"),
                                     ("kiosk.revoke", "K01", "S0001"),
                                     ("kiosk.revoke", "K05", "S0001")]
    page.context.close()

"""A reader's PIN locked by real wrong PINs is unlocked from the console (issue 12 point 5):
kiosk K01 (its store, card service and sync client) issues the reader a card and pushes it to
the real record server process; at the kiosk the reader gives a wrong PIN five times in the
replacement's ID-number + PIN step, which the server checks (``POST .../reader-pin``, the
kiosk's ``ServerReaderPins``) and locks; the right PIN is then refused too. In Chromium an
auditor is refused the unlock; a desk member finds the reader by card number, sees the lock
and unlocks it; the audit row names them with the state before and after, and the kiosk's next
check of the right PIN passes (with the server's grant).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from sqlalchemy import create_engine, text

from kiosk.services.cards.replacement import ServerReaderPins
from kiosk.services.errors import PinLocked, PinWrong
from library_core.clock import CHINA_TZ, FixedClock
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    csrf_of,
    log_in,
    start_console_server,
    visible_keys,
)
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import make_env, make_reader

WRONG = "975310"


def _rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def test_a_locked_reader_pin_is_unlocked_in_the_console_and_the_right_pin_then_passes(
        tmp_path: Path, browser: Browser,
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server = start_console_server(server_factory)
    client = RecordServerClient(server.url, "K01", server.enroll("K01"), retries=0,
                                backoff_s=0.01)
    env = make_env(tmp_path / "k01.sqlite3",
                   clock=FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0)))
    reader = make_reader(4)
    issued = env.new_card(4)
    cards = env.services.cards
    cards.reader_pins = ServerReaderPins(client)  # the server checks the reader's PIN
    SyncEngine(env.store, client, clock=env.clock).sync_once()
    assert env.store.pending_count() == 0
    reader_id = env.store.read_one("SELECT reader_id FROM readers")[0]

    for left in (4, 3, 2, 1):
        with pytest.raises(PinWrong) as wrong:
            cards.verify_reader(reader.id_number, WRONG)
        assert wrong.value.params["attempts_left"] == left
    with pytest.raises(PinLocked):
        cards.verify_reader(reader.id_number, WRONG)
    with pytest.raises(PinLocked):  # locked: the right PIN is refused too
        cards.verify_reader(reader.id_number, reader.pin)
    [(failures, locked_until)] = _rows(
        server, f"SELECT failures, locked_until FROM reader_pin_state WHERE reader_id = '{reader_id}'")
    assert failures == 5 and locked_until

    # an auditor reads the file but may not unlock: refused, the lock stays
    auditor = log_in(browser, server, "auditor", lang="en")
    auditor.goto(f"/console/readers/{reader_id}")
    refused = auditor.context.request.post(
        f"{server.url}/console/readers/{reader_id}/pin/unlock", max_redirects=0,
        form={"csrf_token": csrf_of(auditor)})
    assert refused.status == 403
    assert _rows(server, "SELECT count(*) FROM reader_pin_state")[0][0] == 1
    auditor.context.close()

    # a desk member finds the reader by card number, sees the lock and unlocks it
    desk = log_in(browser, server, "desk", lang="zh_CN")
    desk.goto(f"/console/readers?q={issued.card_no}")
    click_and_load(desk, "table a")
    assert desk.url.endswith(f"/console/readers/{reader_id}")
    assert f"已锁定，至 {locked_until[:16].replace('T', ' ')}" in desk.inner_text("main")
    click_and_load(desk, "button[data-action=unlock]")
    assert "读者 PIN 已解锁。" in desk.inner_text("main")
    assert desk.locator("button[data-action=unlock]").count() == 0 and visible_keys(desk) == []
    desk.context.close()
    assert _rows(server, "SELECT count(*) FROM reader_pin_state")[0][0] == 0
    [(staff_no, target, audit_reader, before, after)] = _rows(
        server, "SELECT staff_no, target, reader_id, before, after FROM audit_log"
                " WHERE action = 'reader.pin_unlock'")
    assert (staff_no, target, audit_reader) == ("S0002", reader_id, reader_id)
    assert json.loads(before) == {"failures": 5, "locked_until": locked_until}
    assert json.loads(after) == {"failures": 0, "locked_until": None}

    # the kiosk's next check of the right PIN passes, with the server's grant
    auth = cards.verify_reader(reader.id_number, reader.pin)
    assert auth.reader_id == reader_id and auth.grant
    env.store.close()

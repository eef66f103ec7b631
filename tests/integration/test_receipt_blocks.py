"""Receipt numbers after a wipe (issue 11 point 4; docs/security.md 4.7), through the real
record server process (SQLite and PostgreSQL), a real kiosk store, the kiosk use cases and the
sync client.

A kiosk prints a receipt number from a block the server reserved for it at its last sync
(``server_client/sync/receipt_blocks.py``, ``POST /api/v1/kiosks/{id}/receipt-blocks``). Its
store is then wiped with receipts printed that never reached the server; started again, it
resumes above the reserved ceiling, so none of those numbers is issued twice. The reservation
endpoint refuses another kiosk's token, a day outside the position's window, and grows a
ceiling by one block at most per call.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kiosk.services.visitors import VisitorRequest
from library_core.clock import CHINA_TZ, FixedClock
from record_server.ingest.numbering import RECEIPT_BLOCK
from server_client.sync import RecordServerClient, SyncEngine
from server_client.sync.receipt_blocks import LOW_WATER, ceiling
from tests.integration.test_kiosk_resume import enroll
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)
from tests.support.services import ServicesEnv, make_env


def _printed(env: ServicesEnv) -> set[str]:
    """Every receipt number in the kiosk's journal (each one was printed)."""
    return {r[0] for r in env.store.read("SELECT receipt_no FROM receipts")}


def _print_some(env: ServicesEnv, first: int) -> None:
    """Receipts that reach the server only with a push (new cards) and one that never does
    (a visitor pass)."""
    env.new_card(first)
    env.new_card(first + 1)
    env.services.visitors.register(VisitorRequest(
        name="访客", phone="13900001111", purpose="p", host_department="d", consent=True))


def _wipe(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def test_numbers_printed_but_never_pushed_are_not_reused_after_a_wipe(
        tmp_path: Path, server: ServerProcess) -> None:
    token, _ = enroll(server, "K01")
    # yesterday at 10:00 (the library open for visitors), within the server's days
    now = (dt.datetime.now(CHINA_TZ) - dt.timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0)
    path = tmp_path / "kiosk.sqlite3"
    env = make_env(path, clock=FixedClock(now))
    engine = SyncEngine(env.store, RecordServerClient(server.url, "K01", token), clock=env.clock)
    engine.resume()
    engine.sync_once()  # reserves today's and tomorrow's first blocks
    today = now.date()
    assert ceiling(env.store, today) == RECEIPT_BLOCK
    assert ceiling(env.store, today + dt.timedelta(days=1)) == RECEIPT_BLOCK
    pos = server.get("/api/v1/kiosks/K01/position", token).json()
    assert pos["receipts"][today.isoformat()] == RECEIPT_BLOCK

    _print_some(env, 1)  # printed; the store is wiped before any of it is pushed
    printed = _printed(env)
    assert f"K01-{today:%Y%m%d}-0001" in printed and len(printed) == 3
    env.store.close()
    _wipe(path)

    env = make_env(path, clock=FixedClock(now))  # the wiped kiosk, started again
    engine = SyncEngine(env.store, RecordServerClient(server.url, "K01", token), clock=env.clock)
    engine.resume()
    _print_some(env, 10)
    again = _printed(env)
    assert not printed & again  # without the block, 0001-0003 would be printed again
    assert min(int(n[-4:]) for n in again) > RECEIPT_BLOCK
    engine.sync_once()
    statuses = {r[0] for r in env.store.read("SELECT status FROM outbox")}
    assert statuses <= {"applied"}, statuses
    assert ceiling(env.store, today) - env.store.counter(f"receipt:{today}") >= LOW_WATER


def test_a_reservation_is_the_kiosks_own_and_grows_a_block_at_a_time(
        server: ServerProcess) -> None:
    token, _ = enroll(server, "K01")
    other, _ = enroll(server, "K02")
    today = dt.datetime.now(CHINA_TZ).date()

    def reserve(kiosk: str, tok: str, day: dt.date, after: int) -> tuple[int, object]:
        resp = server.post(f"/api/v1/kiosks/{kiosk}/receipt-blocks", tok,
                           json={"day": day.isoformat(), "after": after})
        return resp.status_code, resp.json()

    assert reserve("K01", token, today, 0) == (200, {"day": today.isoformat(),
                                                     "ceiling": RECEIPT_BLOCK})
    # a claimed counter far above the ceiling buys one block, not the day's numbers
    assert reserve("K01", token, today, 9000)[1] == {"day": today.isoformat(),
                                                    "ceiling": 2 * RECEIPT_BLOCK}
    assert reserve("K01", token, today, 0)[1]["ceiling"] == 2 * RECEIPT_BLOCK  # never lowered
    assert reserve("K01", other, today, 0)[0] in (401, 403)  # K02's token, K01's numbers
    long_ago = today - dt.timedelta(days=30)
    assert reserve("K01", token, long_ago, 0) == (422, {"detail": "day_not_reservable"})
    assert reserve("K01", token, today + dt.timedelta(days=2), 0)[0] == 422
    pos = server.get("/api/v1/kiosks/K01/position", token).json()
    assert pos["receipts"][today.isoformat()] >= 2 * RECEIPT_BLOCK
    assert server.get("/api/v1/kiosks/K02/position", other).json()["receipts"] == {}

"""The record server checks each pushed event against the fee schedule in force on the event's
day (issue 12.10): a schedule in force since ten days ago (stored and published by the server's
own ``record_server.fee_schedules.save``) makes a renewal a kiosk priced from the old schedule
after that day refused, while one from before that day applies; after its pull the kiosk prices
from it and its renewal applies. The kiosk's own use cases, its real sync client and the real
record server process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from kiosk.services.common import Tender
from library_core.clock import CHINA_TZ, FixedClock
from library_core.fees import load_fee_schedule
from record_server import fee_schedules
from record_server.config import FEES_PATH
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import WECHAT_CODE, ServicesEnv, make_env


@pytest.fixture
def setup(server_factory: Callable[..., ServerProcess],  # noqa: F811
          db_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServicesEnv, SyncEngine]]:
    server = server_factory(db_url)
    server.cli("migrate")
    server.start()
    token = server.enroll("K01")
    today = dt.datetime.now(CHINA_TZ).replace(hour=10, minute=0, second=0, microsecond=0)
    env = make_env(tmp_path / "kiosk.sqlite3", clock=FixedClock(today - dt.timedelta(days=20)))
    client = RecordServerClient(server.url, "K01", token, retries=1, backoff_s=0.01)
    yield server, env, SyncEngine(env.store, client, clock=env.clock)
    client.close()
    env.store.close()


def _renew(env: ServicesEnv, uid: bytes) -> Any:
    env.writer.place(uid)
    _, raw = env.writer.tapped()
    return env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))


def _events(server: ServerProcess, kind: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(
                "SELECT occurred_day, status, detail FROM events WHERE kind = :k ORDER BY seq"),
                {"k": kind}))
    finally:
        engine.dispose()


def test_each_event_is_checked_with_the_schedule_of_its_day(
        setup: tuple[ServerProcess, ServicesEnv, SyncEngine]) -> None:
    server, env, engine = setup
    engine.sync_once()  # the server's configured schedule: renewal 10 yuan
    base = load_fee_schedule(FEES_PATH)
    assert env.services.fee_schedule.current().renewal_fee == base.renewal_fee == 1000
    uids = []
    for serial in (1, 2):
        env.new_card(serial)
        uids.append(env.writer.tapped()[0])
    report = engine.sync_once()
    assert report.applied == report.pushed > 0 and report.rejected == 0

    # the server: 20 yuan a renewal since ten days ago
    day = env.clock.now().date() + dt.timedelta(days=10)
    dearer = dataclasses.replace(base, renewal_fee=2000)
    db = create_engine(server.database_url)
    with db.begin() as conn:
        fee_schedules.save(conn, effective_from=day, schedule=dearer, staff_no="S0002",
                           now=dt.datetime.now(CHINA_TZ))
    db.dispose()

    # the kiosk, not synced since: a renewal the day before (10 yuan, right), one on the
    # 15th day (10 yuan, no longer right): pushed together, the server tells them apart
    env.clock.set(env.clock.now() + dt.timedelta(days=9))
    assert _renew(env, uids[0]).amount == 1000
    env.clock.set(env.clock.now() + dt.timedelta(days=6))
    assert _renew(env, uids[1]).amount == 1000
    report = engine.sync_once()
    assert report.rejected == 1
    renewals = _events(server, "card.renewed")
    assert [(r.occurred_day, r.status) for r in renewals] == [
        ((day - dt.timedelta(days=1)).isoformat(), "applied"),
        ((day + dt.timedelta(days=5)).isoformat(), "rejected")]
    assert renewals[1].detail == "renewal_not_paid"

    # that sync's pull brought the schedule: the kiosk prices from it, the server agrees
    env.clock.set(env.clock.now() + dt.timedelta(days=1))
    assert env.services.fee_schedule.current().renewal_fee == 2000
    assert _renew(env, uids[0]).amount == 2000
    report = engine.sync_once()
    assert report.applied == report.pushed > 0 and report.rejected == 0
    assert _events(server, "card.renewed")[-1].status == "applied"

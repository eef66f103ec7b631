"""Issue 11 point 4 and point 1's numbering, through the real server process (SQLite and
PostgreSQL), a real kiosk store, the kiosk use cases and the sync client:

- the server numbers its kiosks at enrollment and returns the number with the token;
- a wiped store, or one restored from an older copy, learns from the server where it stands
  and resumes: nothing lost, doubled or reused;
- a kiosk pushing another kiosk's receipt number, card number or visit id is refused with
  ``number_out_of_range: <field>`` and nothing changes;
- SIGKILL right after the server answered a push: the events are there after the restart.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from kiosk.services import build_services
from kiosk.services.visitors import VisitorRequest
from library_core.clock import CHINA_TZ, FixedClock
from server_client.store import Store
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (
    ServerProcess,
    server_factory_fixture,  # noqa: F401
    server_fixture,  # noqa: F401
)
from tests.support.server_process import db_url_fixture as db_url_fixture  # noqa: F401
from tests.support.services import (
    MemoryCardWriter,
    ServicesEnv,
    make_env,
)


def kiosk_clock() -> FixedClock:
    """Yesterday at 10:00 in China: the library open for visitors, and a day the server's
    position still answers (the last 7 days of its own clock; a fixed date drifts out)."""
    return FixedClock((dt.datetime.now(CHINA_TZ) - dt.timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0))


def enroll(server: ServerProcess, kiosk_id: str) -> tuple[str, int]:
    code = server.cli("enroll-kiosk", "--kiosk-id", kiosk_id).splitlines()[-1]
    resp = requests.post(f"{server.url}/api/v1/kiosks/enroll",
                         json={"kiosk_id": kiosk_id, "code": code}, timeout=10)
    resp.raise_for_status()
    return str(resp.json()["token"]), int(resp.json()["kiosk_no"])


def reopen(env: ServicesEnv, path: Path) -> ServicesEnv:
    """The same kiosk started again on the store at ``path`` (as the app does)."""
    store = Store.open(path, kiosk_id="K01")
    writer = MemoryCardWriter(first_uid=1000 + store.count("cards"))
    services = build_services(store, env.clock, env.gateway, writer, env.config,
                              staff_authority=env.staff)  # staff log in as before
    return ServicesEnv(store, env.clock, env.gateway, writer, env.config, services, env.staff)


def flows(env: ServicesEnv, first: int, n: int) -> dict[str, set[str]]:
    """n new readers with a paid card, and n visitors: what numbers they used."""
    used: dict[str, set[str]] = {"receipt": set(), "card": set(), "visit": set()}
    for i in range(first, first + n):
        result = env.new_card(i)
        used["receipt"].add(result.receipt.receipt_no)
        used["card"].add(result.card_no)
        visit = env.services.visitors.register(VisitorRequest(
            name="访客", phone="13900001111", purpose="p", host_department="d", consent=True))
        used["visit"].add(visit.visit.visit_id)
    return used


def sync(env: ServicesEnv, server: ServerProcess, token: str) -> SyncEngine:
    client = RecordServerClient(server.url, "K01", token)
    engine = SyncEngine(env.store, client)
    engine.resume()
    engine.sync_once()
    return engine


def server_rows(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def server_numbers(db_url: str) -> dict[str, list[str]]:
    return {"receipt": [r[0] for r in server_rows(db_url, "SELECT receipt_no FROM payments")],
            "card": [r[0] for r in server_rows(db_url, "SELECT card_no FROM cards")],
            "visit": [r[0] for r in server_rows(db_url, "SELECT visit_id FROM visits")]}


def merge(*useds: dict[str, set[str]]) -> dict[str, set[str]]:
    return {k: set().union(*(u[k] for u in useds)) for k in ("receipt", "card", "visit")}


def assert_all_applied(env: ServicesEnv) -> None:
    statuses = {r[0]: r[1] for r in env.store.read(
        "SELECT status, count(*) FROM outbox GROUP BY status")}
    assert set(statuses) <= {"applied", "duplicate"}, statuses


def test_server_numbers_kiosks_at_enrollment(server: ServerProcess) -> None:
    """K01 gets 1, a kiosk whose spelled number is taken gets the lowest free one, a
    re-enrolled kiosk keeps its number; the position says so."""
    token1, no1 = enroll(server, "K01")
    _, no7 = enroll(server, "K07")
    _, again = enroll(server, "K01")
    assert (no1, no7, again) == (1, 7, 1)
    resp = server.get("/api/v1/kiosks/K01/position", token1)
    assert resp.status_code == 401  # the re-enrollment replaced the token
    token1, _ = enroll(server, "K01")
    pos = server.get("/api/v1/kiosks/K01/position", token1).json()
    assert pos == {"kiosk_id": "K01", "kiosk_no": 1, "next_seq": 1, "card_serial": 0,
                   "visit_no": 0, "receipts": {}}
    # another kiosk's position is not this token's to read
    assert server.get("/api/v1/kiosks/K07/position", token1).status_code in (401, 403)


def test_wiped_store_resumes(tmp_path: Path, server: ServerProcess, db_url: str) -> None:
    token, _ = enroll(server, "K01")
    path = tmp_path / "kiosk.sqlite3"
    env = make_env(path, clock=kiosk_clock())
    before = flows(env, 1, 3)
    sync(env, server, token)
    paid_before = sum(r[0] for r in env.store.read("SELECT amount FROM payments"))
    env.store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)

    env = make_env(path, clock=env.clock)  # the wiped kiosk, started again
    token, _ = enroll(server, "K01")
    engine = SyncEngine(env.store, RecordServerClient(server.url, "K01", token))
    engine.resume()  # start-up: counters and outbox move forward
    assert env.store.kiosk_no() == 1
    after = flows(env, 4, 3)
    engine.sync_once()
    assert_all_applied(env)
    paid_after = sum(r[0] for r in env.store.read("SELECT amount FROM payments"))

    used = merge(before, after)
    on_server = server_numbers(db_url)
    for kind in used:
        assert len(before[kind] & after[kind]) == 0, kind  # no number reused
        assert sorted(on_server[kind]) == sorted(used[kind]), kind  # nothing lost or doubled
    assert server_rows(db_url, "SELECT count(*), sum(amount) FROM payments") == [
        (6, paid_before + paid_after)]
    assert server_rows(db_url, "SELECT count(*) FROM events WHERE status = 'applied'")[0][0] == \
        server_rows(db_url, "SELECT count(*) FROM events")[0][0]


def test_store_restored_from_an_older_copy_resumes(tmp_path: Path, server: ServerProcess,
                                                   db_url: str) -> None:
    token, _ = enroll(server, "K01")
    path = tmp_path / "kiosk.sqlite3"
    env = make_env(path, clock=kiosk_clock())
    first = flows(env, 1, 2)
    sync(env, server, token)
    pending_in_copy = flows(env, 3, 1)  # made, not yet pushed when the copy is taken
    queued = env.store.pending_count()
    copy = tmp_path / "copy.sqlite3"
    src, dst = sqlite3.connect(path), sqlite3.connect(copy)
    src.backup(dst)
    dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    src.close()
    dst.close()
    sync(env, server, token)  # pushes the pending ones after the copy
    later = flows(env, 4, 2)
    sync(env, server, token)
    env.store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(copy, path)

    env = reopen(env, path)
    # offline for a while after the restore: a new event takes an outbox seq the server has
    # already seen from other events (it carries no new number: staff close a visit)
    visit_id = sorted(first["visit"])[0]
    env.services.visitors.close_by_staff(env.desk(), visit_id)
    closing = env.store.read_one("SELECT event_id, seq FROM outbox WHERE kind = 'visit.closed'")
    engine = SyncEngine(env.store, RecordServerClient(server.url, "K01", token))
    position = engine.resume()
    renumbered = env.store.read_one("SELECT seq, status FROM outbox WHERE event_id = ?",
                                    (closing["event_id"],))
    assert closing["seq"] < position["next_seq"] <= renumbered["seq"]
    assert renumbered["status"] == "pending"
    last = flows(env, 6, 2)
    engine.sync_once()
    assert_all_applied(env)
    dup = env.store.count("outbox", "status = 'duplicate'")
    assert dup == queued  # queued in the copy, pushed after it: already applied, not again
    used = merge(first, pending_in_copy, later, last)
    on_server = server_numbers(db_url)
    for kind in used:
        assert sorted(on_server[kind]) == sorted(used[kind]), kind
        assert len(on_server[kind]) == 7, kind
    assert server_rows(db_url, f"SELECT how FROM visits WHERE visit_id = '{visit_id}'") == [
        ("staff",)]


def test_forged_numbers_of_another_kiosk_are_refused(tmp_path: Path, server: ServerProcess,
                                                     db_url: str) -> None:
    """K02 pushes events a real kiosk K01 made (K01's receipt number, card number, visit id):
    each refused with the field named; the server's records unchanged."""
    enroll(server, "K01")
    token2, no2 = enroll(server, "K02")
    assert no2 == 2
    env = make_env(tmp_path / "k01.sqlite3", clock=kiosk_clock())
    flows(env, 1, 1)
    made = env.store.pending_events(100)
    tables = ("readers", "cards", "payments", "visits", "events", "kiosk_numbers")
    counts = {t: server_rows(db_url, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    forged = []
    for seq, e in enumerate(made, start=1):
        forged.append(e | {"event_id": str(uuid.uuid4()), "kiosk_id": "K02", "seq": seq})
    resp = server.post("/api/v1/kiosks/K02/events", token2, json={"events": forged})
    assert resp.status_code == 200
    by_kind = {e["kind"]: r for e, r in zip(forged, resp.json()["results"], strict=True)}
    assert by_kind["card.issued"]["detail"] == "number_out_of_range: card_no"
    assert by_kind["payment.recorded"]["detail"] == "number_out_of_range: receipt_no"
    assert by_kind["visit.opened"]["detail"] == "number_out_of_range: visit_id"
    for kind in ("card.issued", "payment.recorded", "visit.opened"):
        assert by_kind[kind]["status"] == "rejected"
    # only the reader registration (no number of K01's in it) applies; no card, payment,
    # visit or number high-water mark of K01's came in through K02
    counts_after = {t: server_rows(db_url, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    assert {t: counts_after[t] - counts[t] for t in tables} == {
        "readers": 1, "cards": 0, "payments": 0, "visits": 0,
        "events": len(forged), "kiosk_numbers": 0}  # every answer is on record, refusals too


def test_sigkill_right_after_a_push_loses_nothing(tmp_path: Path, server: ServerProcess,
                                                  db_url: str) -> None:
    token, _ = enroll(server, "K01")
    env = make_env(tmp_path / "kiosk.sqlite3", clock=kiosk_clock())
    used = flows(env, 1, 2)
    pending = env.store.pending_events(100)
    resp = server.post("/api/v1/kiosks/K01/events", token, json={"events": pending})
    assert resp.status_code == 200
    assert {r["status"] for r in resp.json()["results"]} == {"applied"}
    server.kill()  # SIGKILL the moment the answer is in: a power cut for the server
    server.start()
    ids = {r[0] for r in server_rows(db_url, "SELECT event_id FROM events")}
    assert ids == {e["event_id"] for e in pending}
    assert sorted(server_numbers(db_url)["receipt"]) == sorted(used["receipt"])
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    pos = server.get("/api/v1/kiosks/K01/position", token).json()
    assert pos["next_seq"] == len(pending) + 1 and pos["card_serial"] == 2

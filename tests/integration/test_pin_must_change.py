"""*PIN must change* on revocation (docs/security.md 5.6, 5.7 step 4), through the real record
server process (SQLite and PostgreSQL) and real kiosks (store, services, sync client).

A revoked kiosk may have been stolen running, with the PINs of everyone who logged in there
within reach. So the revocation marks them: at any other kiosk their old PIN, though right, gets
the named answer ``pin_must_change`` (403; the kiosk says so in zh_CN and en and does not fall
back to its offline verifier), their offline verifiers end at once (an offline action signed
with the old PIN afterwards is refused by the server), staff who never logged in there are not
affected, and a supervisor's PIN reset clears the mark.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kiosk.services import build_services
from kiosk.services.common import Tender
from kiosk.services.config import ServicesConfig
from kiosk.services.payment import SimulatedPaymentGateway
from kiosk.services.staff_auth import (
    ServerStaffAuthority,
    StaffLoginRefused,
    StaffPinMustChange,
)
from library_core.clock import CHINA_TZ, FixedClock
from library_core.fees import load_fee_schedule
from library_core.i18n import translate
from library_core.staff_rules import OfflineStaffPolicy
from record_server import staff_tables as st
from record_server.console import staff_data
from record_server.db import Database
from server_client.store import Store
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    STAFF_PIN,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)
from tests.support.services import (
    CHEAP_N,
    CONFIG_DIR,
    TEST_KEY,
    MemoryCardWriter,
    OutboxReaderPins,
    ServicesEnv,
    add_staff,
    make_reader,
)

DESK, SUPERVISOR = "S0002", "S0001"  # server_fixture's staff (PIN STAFF_PIN)
POLICY = OfflineStaffPolicy(cash_limit_fen=20_000, day_cash_limit_fen=50_000)
DEAD = "http://127.0.0.1:9"  # nothing listens: the kiosk is offline


def _kiosk(tmp_path: Path, server: ServerProcess, kiosk_id: str
           ) -> tuple[ServicesEnv, RecordServerClient]:
    """A kiosk ``K<n>`` enrolled on the server (tests/support/services.make_env, for any id),
    its staff log-ins checked by the server, its clock at the server's time."""
    client = RecordServerClient(server.url, kiosk_id, server.enroll(kiosk_id), retries=0,
                                backoff_s=0.01)
    clock = FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0))
    cfg = ServicesConfig(kiosk_id=kiosk_id, kiosk_no=int(kiosk_id[1:]), library_key=TEST_KEY,
                         fees=load_fee_schedule(CONFIG_DIR / "fees.toml"),
                         library_name="市图书馆", pin_n=CHEAP_N, offline_staff=POLICY)
    store = Store.open(tmp_path / f"{kiosk_id}.sqlite3", kiosk_id=kiosk_id)
    add_staff(store)
    gateway, writer = SimulatedPaymentGateway(refuse_suffix="0000"), MemoryCardWriter()
    services = build_services(store, clock, gateway, writer, cfg,
                              reader_pins=OutboxReaderPins(store, clock),
                              staff_authority=ServerStaffAuthority(client))
    return ServicesEnv(store, clock, gateway, writer, cfg, services, None), client


def _marked(server: ServerProcess) -> dict[str, Any]:
    db = Database(server.database_url)
    try:
        with db.read() as conn:
            return {r.staff_no: r.kiosk_id for r in conn.execute(select(st.staff_pin_must_change))}
    finally:
        db.engine.dispose()


def test_staff_of_a_revoked_kiosk_must_change_their_pin(tmp_path: Path,
                                                        server: ServerProcess) -> None:
    k1, _ = _kiosk(tmp_path, server, "K01")  # to be stolen and revoked
    k2, client2 = _kiosk(tmp_path, server, "K02")
    k2.services.staff.login(SUPERVISOR, STAFF_PIN)  # online at K02: its offline verifier there
    k2.services.staff.login(DESK, STAFF_PIN)
    k1.services.staff.login(SUPERVISOR, STAFF_PIN)  # the desk member never logs in at K01
    SyncEngine(k2.store, client2, clock=k2.clock).sync_once()  # K02 pulls its staff list
    assert _marked(server) == {}

    sup = server.staff_token(SUPERVISOR)
    assert server.post("/api/v1/kiosks/K01/revoke", sup).status_code == 200
    assert _marked(server) == {SUPERVISOR: "K01"}

    with pytest.raises(StaffPinMustChange) as must:  # the right old PIN, at another kiosk
        k2.services.staff.login(SUPERVISOR, STAFF_PIN)
    for lang, words in (("zh_CN", "PIN"), ("en", "must be changed")):
        assert words in translate(must.value.message_id, lang), lang
    token2 = client2.token
    answer = server.post("/api/v1/kiosks/K02/staff-sessions", token2,
                         json={"staff": SUPERVISOR, "pin": STAFF_PIN})
    assert (answer.status_code, answer.json()["detail"]) == (403, "pin_must_change")
    wrong = server.post("/api/v1/kiosks/K02/staff-sessions", token2,
                        json={"staff": SUPERVISOR, "pin": "975318"})
    assert wrong.status_code == 401  # a wrong PIN learns nothing: the one answer for all
    assert k2.services.staff.login(DESK, STAFF_PIN).prover is not None  # not at K01: unaffected

    # K02 offline: its verifier still takes the old PIN, but the server ended it at revocation
    k2.clock.advance(minutes=10)  # after the revocation, beyond the clock drift allowed
    online = k2.services.staff.authority
    k2.services.staff.authority = ServerStaffAuthority(
        RecordServerClient(DEAD, "K02", "kt_x", retries=0, backoff_s=0.01))
    offline = k2.services.staff.login(SUPERVISOR, STAFF_PIN)
    assert offline.offline
    k2.writer.place_blank()
    k2.services.cards.new_card(make_reader(1), Tender.cash_by(offline))
    k2.services.staff.authority = online
    SyncEngine(k2.store, client2, clock=k2.clock).sync_once()
    problems = {p["kind"]: p for p in k2.store.problem_events()}
    assert (problems["payment.recorded"]["status"],
            problems["payment.recorded"]["detail"]) == ("rejected", "staff_session_expired")
    assert problems["card.issued"]["detail"] == "deposit_not_paid"  # no card for unpaid fees

    db = Database(server.database_url)  # the supervisor's PIN reset (console: reset-pin)
    try:
        with db.write() as conn:
            new_pin = staff_data.reset_pin(conn, SUPERVISOR, pin_cost=CHEAP_N)
    finally:
        db.engine.dispose()
    assert _marked(server) == {}
    with pytest.raises(StaffLoginRefused):  # the old PIN is simply wrong now
        k2.services.staff.login(SUPERVISOR, STAFF_PIN)
    assert k2.services.staff.login(SUPERVISOR, new_pin).prover is not None

"""The kiosk staff-session endpoint and the staff-proof check, on the server alone (real server
process; no kiosk code): ``POST /api/v1/kiosks/{id}/staff-sessions`` answers one 401 for unknown,
inactive, locked and wrong, counts wrong PINs centrally and locks after five, is rate-limited,
returns a session that opens no server endpoint; a staff event MACed with its key
(``library_core.contract``) applies; ``require_staff_proof`` off lets an unproven one through as
a ``staff_proof_missing`` conflict (docs/security.md 5.1, 5.2)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from library_core import contract as c
from library_core.clock import CHINA_TZ
from record_server import models as m
from record_server.db import Database
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    STAFF_PIN,
    KioskEvents,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)

Factory = Callable[..., ServerProcess]


def _login(server: ServerProcess, token: str, staff: str, pin: str,
           kiosk: str = "K01") -> Any:
    return server.post(f"/api/v1/kiosks/{kiosk}/staff-sessions", token,
                       json={"staff": staff, "pin": pin})


def _started(factory: Factory, **kwargs: Any) -> ServerProcess:
    srv = factory(**kwargs)
    srv.cli("migrate")
    srv.create_staff("S0001", role="supervisor")
    srv.create_staff("S0002", role="desk", name="Desk")
    return srv.start()


def _cash_payment(k: KioskEvents, reader_id: str, staff_no: str, when: str) -> dict[str, Any]:
    fee_id = f"fee-{reader_id}-fine"
    return k.env("payment.recorded", {
        "payment_id": f"pay-{reader_id}-fine", "reader_id": reader_id,
        "receipt_no": k.receipt_no(), "method": "cash", "amount": 500,
        "allocations": [{"fee_id": fee_id, "amount": 500}], "staff_no": staff_no}, at=when)


def _fine(k: KioskEvents, reader_id: str, when: str) -> dict[str, Any]:
    return k.env("fee.assessed", {"fee_id": f"fee-{reader_id}-fine", "reader_id": reader_id,
                                  "kind": "overdue", "amount": 500, "description": "overdue"},
                 at=when)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_one_answer_for_every_refusal_and_a_central_lockout(server: ServerProcess) -> None:
    token = server.enroll("K01")
    ok = _login(server, token, "S0002", STAFF_PIN)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["session_key"]) and body["role"] == "desk"
    assert body["offline"]["verifier_id"] and re.fullmatch(r"[0-9a-f]{64}",
                                                           body["offline"]["offline_key"])
    assert "token" not in body
    # the session opens no server endpoint
    assert server.get("/api/v1/conflicts", body["session_id"]).status_code == 401
    db = Database(server.database_url)
    try:
        with db.write() as conn:
            conn.execute(update(m.staff).where(m.staff.c.staff_no == "S0002").values(active=False))
        answers = {"unknown": _login(server, token, "S0999", STAFF_PIN),
                   "inactive": _login(server, token, "S0002", STAFF_PIN)}
        for _ in range(5):
            answers["wrong"] = _login(server, token, "S0001", "999999")
        answers["locked"] = _login(server, token, "S0001", STAFF_PIN)  # the right PIN
        with db.read() as conn:
            assert conn.execute(select(m.staff.c.locked).where(
                m.staff.c.staff_no == "S0001")).scalar()
    finally:
        db.engine.dispose()
    assert {(r.status_code, r.text) for r in answers.values()} == {
        (401, answers["wrong"].text)}
    # another kiosk's token does not open this kiosk's log-in
    other = server.enroll("K02")
    assert _login(server, other, "S0001", STAFF_PIN, kiosk="K01").status_code == 403


def test_the_log_in_is_rate_limited(server_factory: Factory) -> None:
    srv = _started(server_factory, login_rate=3)
    token = srv.enroll("K01")
    codes = [_login(srv, token, "S0002", "999999").status_code for _ in range(6)]
    assert codes[:3] == [401] * 3 and 429 in codes[3:]


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_an_event_signed_with_the_session_key_applies(server: ServerProcess) -> None:
    token = server.enroll("K01")
    grant = _login(server, token, "S0002", STAFF_PIN).json()
    k = KioskEvents("K01")
    now = dt.datetime.now(CHINA_TZ).isoformat()
    events = [*k.new_reader("r1", 1, k.card(1)), _fine(k, "r1", now)]
    assert {r["status"] for r in server.post("/api/v1/kiosks/K01/events", token, json={
        "events": events}).json()["results"]} == {"applied"}
    pay = _cash_payment(k, "r1", "S0002", now)
    pay["staff_proof"] = {"kind": "online", "session_id": grant["session_id"],
                          "mac": c.event_mac(bytes.fromhex(grant["session_key"]),
                                             c.canonical_event_bytes(pay))}
    res = server.post("/api/v1/kiosks/K01/events", token, json={"events": [pay]}).json()
    assert res["results"][0]["status"] == "applied", res


def test_without_require_staff_proof_an_unproven_event_is_flagged(server_factory: Factory,
                                                                    tmp_path: Path) -> None:
    srv = _started(server_factory, env={"RECORD_SERVER_REQUIRE_STAFF_PROOF": "0"})
    token = srv.enroll("K01")
    k = KioskEvents("K01")
    now = dt.datetime.now(CHINA_TZ).isoformat()
    events = [*k.new_reader("r1", 1, k.card(1)), _fine(k, "r1", now),
              _cash_payment(k, "r1", "S0002", now)]
    res = srv.post("/api/v1/kiosks/K01/events", token, json={"events": events}).json()
    last = res["results"][-1]
    assert (last["status"], last.get("rule")) == ("conflict", "staff_proof_missing"), res

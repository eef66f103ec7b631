"""Staff authority the server can verify (issue 11.2, 11.3; docs/security.md 5), through the real
record server process and a real kiosk (store, services, sync client):

- staff log in at the kiosk through the server; every staff event carries the proof made when
  it was emitted; the same event with its proof missing, of an unknown session, of another
  kiosk's session, naming other staff, outside its session or with a bad MAC is refused with
  that reason and changes nothing; the genuine one applies (SQLite and PostgreSQL);
- wrong-role, inactive and locked staff are refused though the proof is right;
- offline, a log-in checks the PIN against the verifier the server issued; an action over the
  offline limit is refused at the kiosk (zh_CN and en message); one within it applies at the
  server as an ``offline_staff_action`` conflict; waivers/refunds/cancellations never offline;
- a pull's raw JSON holds no PIN hash of anyone.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from kiosk.services.common import Tender
from kiosk.services.errors import PinWrong
from kiosk.services.staff_auth import ServerStaffAuthority, StaffLoginRefused
from library_core import contract as c
from library_core.clock import CHINA_TZ, FixedClock
from library_core.i18n import translate
from library_core.staff_rules import OfflineStaffPolicy, OfflineStaffRefused
from record_server import models as m
from record_server.db import Database
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    STAFF_PIN,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)
from tests.support.services import WECHAT_CODE, ServicesEnv, make_env, make_reader

DESK, SUPERVISOR = "S0002", "S0001"  # server_fixture's staff (PIN STAFF_PIN)


def _client(server: ServerProcess, kiosk_id: str, token: str) -> RecordServerClient:
    return RecordServerClient(server.url, kiosk_id, token, retries=0, backoff_s=0.01)


def _kiosk(tmp_path: Path, server: ServerProcess, **config: Any
           ) -> tuple[ServicesEnv, RecordServerClient, SyncEngine]:
    """Kiosk K01 on the server, its clock at the server's time (sessions are short)."""
    client = _client(server, "K01", server.enroll("K01"))
    now = dt.datetime.now(CHINA_TZ).replace(microsecond=0)
    env = make_env(tmp_path / "k01.sqlite3", clock=FixedClock(now),
                   staff_authority=ServerStaffAuthority(client), **config)
    return env, client, SyncEngine(env.store, client, clock=env.clock)


def _state(server: ServerProcess) -> dict[str, Any]:
    """What a staff event could change on the server: payments, fees, cards, conflicts."""
    db = Database(server.database_url)
    try:
        with db.read() as conn:
            return {
                "payments": conn.execute(select(func.count()).select_from(m.payments)).scalar(),
                "paid": conn.execute(select(func.coalesce(func.sum(m.fees.c.paid), 0))).scalar(),
                "cards": sorted(tuple(r) for r in conn.execute(
                    select(m.cards.c.card_no, m.cards.c.status))),
                "readers": sorted(tuple(r) for r in conn.execute(
                    select(m.readers.c.reader_id, m.readers.c.status))),
                "conflicts": conn.execute(select(func.count()).select_from(m.conflicts)).scalar(),
            }
    finally:
        db.engine.dispose()


def _push_before(client: RecordServerClient, env: ServicesEnv, kind: str) -> dict[str, Any]:
    """Push every pending event before the first of ``kind``; return that one (not pushed)."""
    pending = sorted(env.store.pending_events(1000), key=lambda e: e["seq"])
    target = next(e for e in pending if e["kind"] == kind)
    before = [e for e in pending if e["seq"] < target["seq"]]
    if before:
        res = client.push(before)["results"]
        assert {r["status"] for r in res} <= {"applied", "conflict"}, res
    return target


def _mac(key: bytes, env_: dict[str, Any]) -> str:
    return c.event_mac(key, c.canonical_event_bytes(env_))


def _forged(genuine: dict[str, Any], seq: int, key: bytes | None = None, *,
            proof: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """The genuine envelope as a new event at ``seq`` (its MAC redone with ``key`` so that
    only the change under test is wrong)."""
    out = copy.deepcopy(genuine)
    out.update(event_id=str(uuid.uuid4()), seq=seq)
    for name, value in changes.items():
        if name == "payload":
            out["payload"].update(value)
        else:
            out[name] = value
    out["staff_proof"] = dict(proof if proof is not None else genuine["staff_proof"])
    if key is not None:
        out["staff_proof"]["mac"] = _mac(key, out)
    return out


def test_a_staff_action_is_applied_only_with_a_valid_proof(tmp_path: Path,
                                                           server: ServerProcess) -> None:
    env, client, engine = _kiosk(tmp_path, server)
    desk = env.services.staff.login(DESK, STAFF_PIN)
    assert desk.prover is not None and not desk.offline
    env.writer.place_blank()
    env.services.cards.new_card(make_reader(2), Tender.cash_by(desk))  # cash: a staff event
    payment = _push_before(client, env, "payment.recorded")
    assert payment["payload"]["staff_no"] == DESK and payment["payload"]["method"] == "cash"
    assert payment["staff_proof"]["kind"] == "online"
    key = desk.prover.key
    other_kiosk = _client(server, "K02", server.enroll("K02")).open_staff_session(DESK, STAFF_PIN)
    started = dt.datetime.fromisoformat(payment["occurred_at"])
    seq = client.position()["next_seq"]
    forged = {
        "staff_proof_missing": {**_forged(payment, seq), "staff_proof": None},
        "staff_session_unknown": _forged(payment, seq + 1, key, proof={
            "kind": "online", "session_id": secrets.token_urlsafe(24), "mac": "0" * 64}),
        "staff_session_other_kiosk": _forged(
            payment, seq + 2, bytes.fromhex(other_kiosk["session_key"]),
            proof={"kind": "online", "session_id": other_kiosk["session_id"], "mac": "0" * 64}),
        "staff_proof_other_staff": _forged(payment, seq + 3, key,
                                           payload={"staff_no": SUPERVISOR}),
        "staff_session_expired": _forged(payment, seq + 4, key, occurred_at=(
            started - dt.timedelta(hours=2)).isoformat()),
        "staff_proof_invalid": _forged(payment, seq + 5, proof={
            **payment["staff_proof"], "mac": "f" * 64}),
    }
    before = _state(server)
    for reason, event in forged.items():
        if event["staff_proof"] is None:
            del event["staff_proof"]
        res = client.push([event])["results"]
        assert (res[0]["status"], res[0].get("detail")) == ("rejected", reason)
        assert _state(server) == before, reason  # nothing changed
    engine.resume()  # the genuine event's seq went to the forgeries: it gets a new one
    engine.sync_once()
    answered = env.store.read_one("SELECT status FROM outbox WHERE event_id = ?",
                                  (payment["event_id"],))
    assert answered["status"] == "applied"
    after = _state(server)
    assert after["payments"] == before["payments"] + 1 and after["paid"] > before["paid"]


def _proven(env: ServicesEnv, session: Any, kind: str, payload: dict[str, Any],
            seq: int) -> dict[str, Any]:
    """An event as the kiosk would emit it under ``session`` (its proof made with its key)."""
    out = {"event_id": str(uuid.uuid4()), "kiosk_id": "K01", "seq": seq, "kind": kind,
           "occurred_at": env.clock.now().isoformat(), "priority": 0,
           "contract_version": c.CONTRACT_VERSION, "payload": payload}
    out["staff_proof"] = session.prover.proof(c.canonical_event_bytes(out))
    return out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_wrong_role_inactive_and_locked_staff_are_refused(tmp_path: Path,
                                                          server: ServerProcess) -> None:
    env, client, engine = _kiosk(tmp_path, server)
    env.new_card(1)
    engine.sync_once()
    reader_id = env.store.read_one("SELECT reader_id FROM readers")[0]
    desk = env.services.staff.login(DESK, STAFF_PIN)
    fee = {"fee_id": "fee-x", "reader_id": reader_id, "kind": "overdue", "amount": 300,
           "description": "overdue"}
    seq = client.position()["next_seq"]
    assert client.push([{"event_id": str(uuid.uuid4()), "kiosk_id": "K01", "seq": seq,
                         "kind": "fee.assessed", "occurred_at": env.clock.now().isoformat(),
                         "payload": fee}])["results"][0]["status"] == "applied"
    waive = {"fee_id": "fee-x", "reader_id": reader_id, "staff_no": DESK, "reason": "x"}
    before = _state(server)
    res = client.push([_proven(env, desk, "fee.waived", waive, seq + 1)])["results"]
    assert (res[0]["status"], res[0]["detail"]) == ("rejected", "staff_role_required")
    db = Database(server.database_url)
    try:
        with db.write() as conn:
            conn.execute(update(m.staff).where(m.staff.c.staff_no == DESK).values(active=False))
        res = client.push([_proven(env, desk, "payment.recorded", {
            "payment_id": "p-x", "reader_id": reader_id, "receipt_no": "K01-20261201-0900",
            "method": "cash", "amount": 300, "allocations": [{"fee_id": "fee-x", "amount": 300}],
            "staff_no": DESK}, seq + 2)])["results"]
        assert (res[0]["status"], res[0]["detail"]) == ("rejected", "staff_inactive")
        with db.write() as conn:
            conn.execute(update(m.staff).where(m.staff.c.staff_no == DESK).values(active=True))
    finally:
        db.engine.dispose()
    sup = env.services.staff.login(SUPERVISOR, STAFF_PIN)
    for _ in range(5):  # five wrong PINs lock the account, at every kiosk
        with pytest.raises(StaffLoginRefused):
            env.services.staff.login(SUPERVISOR, "999999")
    with pytest.raises(StaffLoginRefused):  # the same answer as a wrong PIN
        env.services.staff.login(SUPERVISOR, STAFF_PIN)
    res = client.push([_proven(env, sup, "fee.waived", {**waive, "staff_no": SUPERVISOR},
                               seq + 3)])["results"]
    assert (res[0]["status"], res[0]["detail"]) == ("rejected", "staff_locked")
    assert _state(server) == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_offline_staff_actions_keep_the_offline_policy(tmp_path: Path,
                                                       server: ServerProcess) -> None:
    new_card = 11_000  # deposit + card fee (config/fees.toml)
    policy = OfflineStaffPolicy(cash_limit_fen=20_000, day_cash_limit_fen=new_card + 5_000)
    env, client, engine = _kiosk(tmp_path, server, offline_staff=policy)
    env.new_card(1)
    env.services.staff.login(SUPERVISOR, STAFF_PIN)  # online: the kiosk gets its verifier
    env.services.staff.login(DESK, STAFF_PIN)
    engine.sync_once()
    assert "pin_hash" not in {r[1] for r in env.store.read("PRAGMA table_info(staff)")}
    online = env.services.staff.authority
    env.services.staff.authority = ServerStaffAuthority(
        RecordServerClient("http://127.0.0.1:9", "K01", "kt_x", retries=0, backoff_s=0.01))
    with pytest.raises(PinWrong):
        env.services.staff.login(DESK, "999999")  # checked against the verifier
    desk = env.services.staff.login(DESK, STAFF_PIN)
    assert desk.offline
    env.writer.place_blank()
    env.services.cards.new_card(make_reader(2), Tender.cash_by(desk))  # within the limit
    snapshot = env.snapshot()
    env.writer.place_blank()
    with pytest.raises(OfflineStaffRefused) as over:  # the day's limit would be passed
        env.services.cards.new_card(make_reader(3), Tender.cash_by(desk))
    assert over.value.message_id == "staff.offline_limit" and env.snapshot() == snapshot
    for lang, words in (("zh_CN", "离线"), ("en", "Offline")):
        text = translate(over.value.message_id, lang, **over.value.params)
        assert words in text and "160.00" in text, text
    sup = env.services.staff.login(SUPERVISOR, STAFF_PIN)
    reader_id = env.store.read_one("SELECT reader_id FROM readers ORDER BY registered_at")[0]
    with pytest.raises(OfflineStaffRefused) as never:
        env.services.staff.refund_deposit_and_cancel(sup, reader_id, "leaving")
    assert never.value.message_id == "staff.offline_not_allowed" and env.snapshot() == snapshot
    env.services.staff.authority = online
    engine.sync_once()
    problems = {p["kind"]: p for p in env.store.problem_events()}
    pay = problems["payment.recorded"]
    assert (pay["status"], pay["rule"]) == ("conflict", "offline_staff_action")
    db = Database(server.database_url)
    try:
        with db.read() as conn:
            row = conn.execute(select(m.conflicts).where(
                m.conflicts.c.rule == "offline_staff_action")).one()
            assert row.kiosk_id == "K01" and row.entity_id == DESK
            assert conn.execute(select(m.payments.c.staff_no).where(
                m.payments.c.method == "cash")).scalar() == DESK  # applied
    finally:
        db.engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_server_refuses_an_offline_action_over_its_own_limit(
        tmp_path: Path, server: ServerProcess) -> None:
    """A kiosk configured looser than the server takes the server's limit (20,000 fen a
    payment by default); offline cash over it, signed anyway, is refused there and changes
    nothing."""
    env, client, engine = _kiosk(tmp_path, server, offline_staff=OfflineStaffPolicy(
        cash_limit_fen=10**7, day_cash_limit_fen=10**8))
    env.services.staff.login(DESK, STAFF_PIN)
    online = env.services.staff.authority
    env.services.staff.authority = ServerStaffAuthority(
        RecordServerClient("http://127.0.0.1:9", "K01", "kt_x", retries=0, backoff_s=0.01))
    desk = env.services.staff.login(DESK, STAFF_PIN)
    # the kiosk applies the stricter of its policy and the server's (20,000 fen a payment)
    assert env.services.staff.offline.policy().cash_limit_fen == 20_000
    env.writer.place_blank()
    env.services.cards.new_card(make_reader(4, category="adult"), Tender.cash_by(desk))
    payment = _push_before(client, env, "payment.recorded")
    big = _forged(payment, client.position()["next_seq"])
    big["payload"]["allocations"][0]["amount"] += 25_000 - payment["payload"]["amount"]
    big["payload"]["amount"] = 25_000
    big["staff_proof"]["mac"] = _mac(desk.prover.key, big)  # a right proof, over the limit
    before = _state(server)
    res = client.push([big])["results"]
    assert (res[0]["status"], res[0]["detail"]) == ("rejected", "offline_limit_exceeded")
    assert _state(server) == before
    env.services.staff.authority = online


def test_a_pull_holds_no_pin_hash(tmp_path: Path, server: ServerProcess) -> None:
    env, client, engine = _kiosk(tmp_path, server)
    env.writer.place_blank()
    env.services.cards.new_card(make_reader(5), Tender.payment_code(WECHAT_CODE))
    engine.sync_once()
    raw = client.session.get(f"{server.url}/api/v1/kiosks/K01/changes",
                             params={"cursor": 0, "limit": 1000},
                             headers={"Authorization": f"Bearer {client.token}"}).text
    db = Database(server.database_url)
    try:
        with db.read() as conn:
            hashes = [str(h) for h in conn.execute(select(m.staff.c.pin_hash)).scalars()]
            hashes += [str(h) for h in conn.execute(select(m.readers.c.pin_hash)).scalars()]
    finally:
        db.engine.dispose()
    assert '"staff"' in raw and len(hashes) >= 3
    assert "pin_hash" not in raw and "scrypt" not in raw
    assert not [h for h in hashes if h in raw]

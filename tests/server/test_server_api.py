"""The record server as a real process on SQLite and PostgreSQL: enrollment, push, pull,
access control, staff lockout, reports."""

from __future__ import annotations

import csv
import datetime as dt
import io

import requests

from library_core.codes import make_card_no
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    STAFF_PASSWORD,
    STAFF_PIN,
    KioskEvents,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)

# kiosk n makes card numbers from n * 10^8 on (the server refuses any other kiosk's)
CARD_SPAN = 10**8


def _push(server: ServerProcess, token: str, kiosk_id: str, events: list[dict]) -> dict:
    resp = server.post(f"/api/v1/kiosks/{kiosk_id}/events", token, json={"events": events})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_openapi_lists_every_endpoint(server: ServerProcess) -> None:
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    paths = set(spec["paths"])
    for path in ("/healthz", "/api/v1/kiosks/enroll", "/api/v1/kiosks/{kiosk_id}/events",
                 "/api/v1/kiosks/{kiosk_id}/changes", "/api/v1/staff/login", "/api/v1/conflicts",
                 "/api/v1/reports/daily", "/api/v1/kiosks/{kiosk_id}/revoke",
                 "/api/v1/cards/{card_no}/block"):
        assert path in paths


def test_push_applies_once_and_pull_rebuilds(server: ServerProcess) -> None:
    token = server.enroll("K01")
    kiosk = KioskEvents("K01")
    events = kiosk.new_reader("r1", 1, make_card_no(CARD_SPAN + 1)) + [kiosk.visit("K01-V000001")]
    first = _push(server, token, "K01", events)
    assert [r["status"] for r in first["results"]] == ["applied"] * 6
    assert first["next_seq"] == 7
    again = _push(server, token, "K01", events)
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 6

    changes, cursor = [], 0
    while True:
        page = server.get("/api/v1/kiosks/K01/changes", token,
                          params={"cursor": cursor, "limit": 2}).json()
        changes += page["changes"]
        cursor = page["next_cursor"]
        if not page["more"]:
            break
    entities = {(c["entity"], c["id"]): c["data"] for c in changes}
    assert entities[("reader", "r1")]["status"] == "active"
    assert entities[("card", make_card_no(CARD_SPAN + 1))]["status"] == "active"
    assert entities[("fee", kiosk.fee_of(make_card_no(CARD_SPAN + 1)))]["status"] == "paid"
    assert ("fee_schedule", "current") in entities
    assert ("staff", "S0001") in entities

    summary = server.get("/api/v1/summary", server.staff_token("S0001")).json()
    assert summary["payments"]["payment"] == {"count": 1, "amount": kiosk.NEW_CARD_FEN}
    assert summary["events"] == {"applied": 6}


def test_gap_is_refused_until_sent_in_order(server: ServerProcess) -> None:
    token = server.enroll("K01")
    kiosk = KioskEvents("K01")
    events = kiosk.new_reader("r1", 1, make_card_no(CARD_SPAN + 1))
    res = _push(server, token, "K01", events[2:])
    assert all(r["status"] == "rejected" and r["detail"].startswith("gap") for r in res["results"])
    res = _push(server, token, "K01", events)
    assert [r["status"] for r in res["results"]] == ["applied"] * 5


def _now() -> str:
    """The server's time: a reader's grant is valid for minutes (record_server/grants.py)."""
    return dt.datetime.now(dt.UTC).isoformat()


def test_priority_block_goes_ahead_and_seq_is_skipped_later(server: ServerProcess) -> None:
    token = server.enroll("K01")
    kiosk = KioskEvents("K01")
    card = make_card_no(CARD_SPAN + 7)
    setup = kiosk.new_reader("r7", 7, card)
    _push(server, token, "K01", setup)
    visit = kiosk.visit("K01-V000007")
    grant = server.reader_grant(token, "K01", "r7", 7)
    block = kiosk.env("card.blocked", {"card_no": card, "reader_id": "r7", "reason": "lost",
                                       "reader_grant": grant}, at=_now())
    res = _push(server, token, "K01", [block])
    assert res["results"][0]["status"] == "applied"
    res = _push(server, token, "K01", [visit])
    assert res["results"][0]["status"] == "applied"
    assert res["next_seq"] == kiosk.seq + 1
    staff = server.staff_token("S0002")
    assert server.get(f"/api/v1/cards/{card}", staff).json()["status"] == "lost"


def test_kiosk_token_is_confined_to_its_own_sync_endpoints(server: ServerProcess) -> None:
    k1 = server.enroll("K01")
    server.enroll("K02")
    assert server.get("/api/v1/conflicts", k1).status_code == 403
    assert server.get("/api/v1/reports/daily", k1).status_code == 403
    assert server.get("/api/v1/kiosks/K02/changes", k1).status_code == 403
    events = KioskEvents("K02").new_reader("r2", 2, make_card_no(2 * CARD_SPAN + 2))
    assert server.post("/api/v1/kiosks/K02/events", k1, json={"events": events}).status_code == 403
    own_kiosk_foreign_events = server.post("/api/v1/kiosks/K01/events", k1, json={"events": events})
    assert own_kiosk_foreign_events.status_code == 403
    staff = server.staff_token("S0001")
    assert server.get("/api/v1/kiosks/K01/changes", staff).status_code == 403
    assert server.get("/api/v1/kiosks/K01/changes", "kt_made_up").status_code == 401
    assert requests.get(f"{server.url}/api/v1/conflicts", timeout=10).status_code == 401


def test_revoked_token_is_refused(server: ServerProcess) -> None:
    token = server.enroll("K01")
    assert server.get("/api/v1/kiosks/K01/changes", token).status_code == 200
    desk = server.staff_token("S0002")
    assert server.post("/api/v1/kiosks/K01/revoke", desk).status_code == 403
    sup = server.staff_token("S0001")
    assert server.post("/api/v1/kiosks/K01/revoke", sup).status_code == 200
    assert server.get("/api/v1/kiosks/K01/changes", token).status_code == 401
    events = KioskEvents("K01").new_reader("r1", 1, make_card_no(CARD_SPAN + 1))
    assert server.post("/api/v1/kiosks/K01/events", token, json={"events": events}).status_code == 401


def test_enrollment_code_works_once(server: ServerProcess) -> None:
    code = server.cli("enroll-kiosk", "--kiosk-id", "K05").splitlines()[-1]
    body = {"kiosk_id": "K05", "code": code}
    first = requests.post(f"{server.url}/api/v1/kiosks/enroll", json=body, timeout=10)
    assert first.status_code == 200 and first.json()["token"].startswith("kt_")
    second = requests.post(f"{server.url}/api/v1/kiosks/enroll", json=body, timeout=10)
    assert second.status_code == 401


def test_five_wrong_passwords_lock_the_account(server: ServerProcess) -> None:
    url = f"{server.url}/api/v1/staff/login"
    answers = [requests.post(url, json={"staff_no": "S0002", "password": "wrong-Pass-975310"},
                             timeout=10) for _ in range(5)]
    assert {(a.status_code, a.text) for a in answers} == {(401, answers[0].text)}
    right = requests.post(url, json={"staff_no": "S0002", "password": STAFF_PASSWORD}, timeout=10)
    # locked: the same answer as a wrong password or an unknown staff number
    assert (right.status_code, right.text) == (401, answers[0].text)
    server.cli("unlock-staff", "--staff-no", "S0002")
    assert requests.post(url, json={"staff_no": "S0002", "password": STAFF_PASSWORD},
                         timeout=10).status_code == 200


def test_the_pin_is_not_the_web_password(server: ServerProcess) -> None:
    """Issue 12 / docs/security.md 4.2: the kiosk PIN opens no server session, sent as the
    password or in the old ``pin`` field."""
    url = f"{server.url}/api/v1/staff/login"
    as_password = requests.post(url, json={"staff_no": "S0001", "password": STAFF_PIN}, timeout=10)
    assert as_password.status_code == 401
    old_body = requests.post(url, json={"staff_no": "S0001", "pin": STAFF_PIN}, timeout=10)
    assert old_body.status_code == 422


def test_login_is_rate_limited(server_factory, tmp_path) -> None:
    srv = server_factory(login_rate=3)
    srv.cli("migrate")
    srv.start()
    url = f"{srv.url}/api/v1/staff/login"
    codes = [requests.post(url, json={"staff_no": "S0009", "password": "wrong-975310"}, timeout=10)
             for _ in range(5)]
    assert [c.status_code for c in codes[:3]] == [401, 401, 401]
    assert codes[3].status_code == 429 and int(codes[3].headers["Retry-After"]) >= 1


def test_daily_report_json_and_csv(server: ServerProcess) -> None:
    token = server.enroll("K01")
    kiosk = KioskEvents("K01")
    events = (kiosk.new_reader("r1", 1, make_card_no(CARD_SPAN + 1)) + kiosk.new_reader("r2", 2, make_card_no(CARD_SPAN + 2))
              + [*kiosk.renew_paid(make_card_no(CARD_SPAN + 1), "r1"), kiosk.visit("K01-V000001")])
    _push(server, token, "K01", events)
    staff = server.staff_token("S0002")
    report = server.get("/api/v1/reports/daily", staff, params={"date": "2026-11-24"}).json()
    total = report["totals"]
    assert (total["cards_issued"], total["cards_renewed"], total["visitors"]) == (2, 1, 1)
    assert total["payments"]["wechat"] == {  # 2 cards, 1 renewal
        "count": 3, "amount": 2 * kiosk.NEW_CARD_FEN + 1000}
    assert report["by_kiosk"]["K01"]["cards_issued"] == 2
    assert report["by_branch"]["main"]["fees_assessed"]["card"] == {"count": 2, "amount": 2000}
    text = server.get("/api/v1/reports/daily", staff,
                      params={"date": "2026-11-24", "format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    issued = [r for r in rows if r["scope"] == "total" and r["metric"] == "cards_issued"]
    assert issued[0]["count"] == "2"

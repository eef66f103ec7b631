"""Hand-written bad requests: each gets a 4xx with a clear message and changes nothing."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from library_core.codes import make_card_no
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    STAFF_PASSWORD,
    KioskEvents,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)


def _valid_events() -> list[dict]:
    return KioskEvents("K01").new_reader("r1", 1, make_card_no(1))


def _bad_bodies() -> list[tuple[str, bytes, str]]:
    events = _valid_events()
    unknown = json.loads(json.dumps(events))
    unknown[0]["kind"] = "card.stolen"
    wrong_type = json.loads(json.dumps(events))
    wrong_type[1]["seq"] = "two"
    extra = {"events": events, "admin": True}
    nul = json.loads(json.dumps(events))
    nul[0]["kiosk_id"] = "K0\u00001"
    naive = json.loads(json.dumps(events))
    naive[0]["occurred_at"] = "2026-11-24T10:00:00"
    huge_seq = json.loads(json.dumps(events))
    huge_seq[0]["seq"] = 10**30
    return [
        ("malformed JSON", b'{"events": [', "invalid request"),
        ("not an object", b"[1, 2, 3]", "invalid request"),
        ("unknown event kind", json.dumps({"events": unknown}).encode(), "kind"),
        ("wrong type", json.dumps({"events": wrong_type}).encode(), "seq"),
        ("unknown field", json.dumps(extra).encode(), "admin"),
        ("NUL in a string", json.dumps({"events": nul}).encode(), "kiosk_id"),
        ("time without offset", json.dumps({"events": naive}).encode(), "occurred_at"),
        ("integer overflow", json.dumps({"events": huge_seq}).encode(), "seq"),
        ("empty batch", b'{"events": []}', "events"),
    ]


def _state(server: ServerProcess, staff: str) -> dict:
    return server.get("/api/v1/summary", staff).json()


@pytest.mark.parametrize("case", range(len(_bad_bodies())), ids=[c[0] for c in _bad_bodies()])
def test_bad_push_is_4xx_and_changes_nothing(server: ServerProcess, case: int) -> None:
    token = server.enroll("K01")
    staff = server.staff_token("S0001")
    before = _state(server, staff)
    _name, body, mentions = _bad_bodies()[case]
    resp = requests.post(f"{server.url}/api/v1/kiosks/K01/events", data=body, timeout=10,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, resp.text
    assert mentions in resp.json()["detail"]
    assert _state(server, staff) == before


def test_huge_bodies_are_refused_before_reading(server: ServerProcess) -> None:
    token = server.enroll("K01")
    staff = server.staff_token("S0001")
    before = _state(server, staff)
    big = b'{"events": [' + b" " * (2 << 20) + b"]}"
    resp = requests.post(f"{server.url}/api/v1/kiosks/K01/events", data=big, timeout=30,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"})
    assert resp.status_code == 413 and "Too Large" in resp.text

    def chunks():  # no Content-Length: the limit counts what arrives
        yield b'{"events": ['
        for _ in range(40):
            yield b" " * 65536
        yield b"]}"

    resp = requests.post(f"{server.url}/api/v1/kiosks/K01/events", data=chunks(), timeout=30,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"})
    assert resp.status_code == 413 and "Too Large" in resp.text
    assert _state(server, staff) == before


def test_bad_payload_is_rejected_per_event_with_the_field(server: ServerProcess) -> None:
    token = server.enroll("K01")
    events = _valid_events()
    events[0]["payload"]["id_number"] = "12345"
    resp = server.post("/api/v1/kiosks/K01/events", token, json={"events": events[:1]})
    result = resp.json()["results"][0]
    assert result["status"] == "rejected" and "id_number" in result["detail"]


def test_bad_query_and_path_values(server: ServerProcess) -> None:
    token = server.enroll("K01")
    staff = server.staff_token("S0001")
    for params in ({"cursor": -1}, {"cursor": "x"}, {"cursor": 10**30}, {"limit": 0}):
        resp = server.get("/api/v1/kiosks/K01/changes", token, params=params)
        assert resp.status_code == 422 and "invalid request" in resp.json()["detail"]
    assert server.get("/api/v1/reports/daily", staff, params={"date": "2026-13-45"}).status_code == 422
    assert server.get("/api/v1/reports/daily", staff, params={"format": "xml"}).status_code == 422
    assert server.get("/api/v1/cards/not-a-card", staff).status_code == 422
    assert server.post("/api/v1/staff/login", None, json={"staff_no": "S0001", "password": 246810}).status_code == 422


def test_logs_hold_no_pins_or_tokens(server: ServerProcess) -> None:
    token = server.enroll("K01")
    staff = server.staff_token("S0001")
    server.get("/api/v1/kiosks/K01/changes", token)
    server.get("/api/v1/conflicts", staff)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sock.recv(100)
    server.terminate()
    log = server.log_path.read_text()
    assert "/api/v1/kiosks/K01/changes 200" in log
    assert token not in log and staff not in log and "246810" not in log
    assert STAFF_PASSWORD not in log

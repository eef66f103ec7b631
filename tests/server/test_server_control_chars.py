"""Control characters in any printable text are refused by the real record server.

Titles, names, purposes, departments, descriptions and reasons end up on receipts; an ESC or GS
in one would reach the receipt printer as a command (ESC p opens the cash drawer, GS V cuts).
Each case goes through a real server process and must be refused with a reason naming the field
and changing nothing; the same request without the control characters is accepted.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from library_core.codes import make_card_no, make_item_barcode
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    KioskEvents,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)

DRAWER_KICK = "\x1bp\x00\x19\xfa"  # ESC p 0 25 250
CUT_NOW = "\x1dV\x00"  # GS V 0
# without NUL, so the control-character rule itself answers (NUL has its own older message)
HOSTILE = ["红楼梦\x1bp0\x19\xfa", "Kick\x1dVAme", "CSI\x9b2J", "pulse\x10\x14\x01"]


def _put_item(server: ServerProcess, token: str, barcode: str, **fields: str) -> requests.Response:
    return requests.put(f"{server.url}/api/v1/items/{barcode}", timeout=10,
                        headers={"Authorization": f"Bearer {token}"},
                        json={"barcode": barcode, "title": "三体", **fields})


def _items(server: ServerProcess, kiosk_token: str) -> dict[str, Any]:
    page = server.get("/api/v1/kiosks/K01/changes", kiosk_token, params={"limit": 500}).json()
    return {c["id"]: c["data"] for c in page["changes"] if c["entity"] == "item"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_item_titles_with_printer_commands_are_refused(server: ServerProcess) -> None:
    sup = server.staff_token("S0001")
    kiosk = server.enroll("K01")
    barcode = make_item_barcode(501)
    for field in ("title", "author", "call_no"):
        for value in (f"红楼梦{DRAWER_KICK}", f"Kick{CUT_NOW}me", *HOSTILE):
            resp = _put_item(server, sup, barcode, **{field: value})
            assert resp.status_code == 422, (field, value, resp.text)
            detail = resp.json()["detail"]
            assert field in detail and ("control characters" in detail or "NUL" in detail)
    assert barcode not in _items(server, kiosk)

    assert _put_item(server, sup, barcode, title="红楼梦（上）").status_code == 200
    assert _items(server, kiosk)[barcode]["title"] == "红楼梦（上）"


def _printable_events(k: KioskEvents) -> list[tuple[str, dict[str, Any]]]:
    """One event per printable text field a kiosk pushes, with the field's name."""
    reader = k.new_reader("rX", 77, make_card_no(77))[0]
    visit = k.visit("K01-V000077")
    fee = k.env("fee.assessed", {"fee_id": "fee-x", "reader_id": "rX", "kind": "overdue",
                                 "amount": 120, "description": "三体 (2026-11-12 → 2026-11-24)"})
    waived = k.env("fee.waived", {"fee_id": "fee-x", "reader_id": "rX", "staff_no": "S0001",
                                  "reason": "图书馆闭馆"})
    return [("name", reader), ("name", visit), ("purpose", visit), ("host_department", visit),
            ("description", fee), ("reason", waived)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_pushed_events_with_control_characters_are_rejected_with_the_field(
    server: ServerProcess,
) -> None:
    token = server.enroll("K01")
    staff = server.staff_token("S0001")
    before = server.get("/api/v1/summary", staff).json()
    k = KioskEvents("K01")
    for field, event in _printable_events(KioskEvents("K01")):  # templates; k sends
        for value in (f"x{DRAWER_KICK}", f"x{CUT_NOW}", *HOSTILE):
            bad = k.env(event["kind"], {**event["payload"], field: value})  # a new event id
            resp = server.post("/api/v1/kiosks/K01/events", token, json={"events": [bad]})
            assert resp.status_code in (200, 422), resp.text
            if resp.status_code == 200:
                result = resp.json()["results"][0]
                assert result["status"] == "rejected", (field, value, result)
                detail = result["detail"]
            else:
                detail = resp.json()["detail"]
            assert field in detail and ("control characters" in detail or "NUL" in detail), detail
    after = server.get("/api/v1/summary", staff).json()
    assert after.pop("events") == {"rejected": 6 * 6}  # recorded as rejected, nothing applied
    before.pop("events")
    assert after == before

"""Two kiosks and the desk produce each named conflict; the rule decides and is recorded."""

from __future__ import annotations

import requests

from library_core.codes import make_item_barcode
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    KioskEvents,
    ServerProcess,
    db_url_fixture,
    resident_id,
    server_factory_fixture,
    server_fixture,
    sign_staff_event,
)


def _push(server: ServerProcess, token: str, kiosk_id: str, events: list[dict]) -> list[dict]:
    resp = server.post(f"/api/v1/kiosks/{kiosk_id}/events", token, json={"events": events})
    assert resp.status_code == 200, resp.text
    return resp.json()["results"]


def test_each_conflict_is_decided_by_its_rule_and_listed(server: ServerProcess) -> None:
    t1, t2 = server.enroll("K01"), server.enroll("K02")
    k1, k2 = KioskEvents("K01"), KioskEvents("K02")
    desk = server.staff_token("S0002")
    card = k1.card(11)
    _push(server, t1, "K01", k1.new_reader("r11", 11, card))

    # 1. card reported lost at the desk beats a renewal made offline at K02
    assert server.post(f"/api/v1/cards/{card}/block", desk, json={"reason": "lost"}).status_code == 200
    res = _push(server, t2, "K02", k2.renew_paid(card, "r11", months=12))[-1:]
    assert res[0]["status"] == "conflict"
    assert res[0]["rule"] == "card_block_beats_offline_renewal"
    card_now = server.get(f"/api/v1/cards/{card}", desk).json()
    assert card_now["status"] == "lost" and card_now["expires_on"] == "2029-11-24"

    # 2. the same fine paid at two kiosks: one payment settles it, the other becomes credit
    fine = k1.env("fee.assessed", {"fee_id": "fine-11", "reader_id": "r11", "kind": "overdue",
                                   "amount": 500, "description": "overdue"})
    assert _push(server, t1, "K01", [fine])[0]["status"] == "applied"
    pay1 = k1.pay("r11", "fine-11", 500, "pay-k1-fine")
    pay2 = k2.pay("r11", "fine-11", 500, "pay-k2-fine", method="cash")
    pay2["payload"]["staff_no"] = "S0002"  # cash is taken by desk staff, logged in at K02
    sign_staff_event(pay2, server.staff_session(t2, "K02", "S0002"))
    assert _push(server, t1, "K01", [pay1])[0]["status"] == "applied"
    res = _push(server, t2, "K02", [pay2])
    assert (res[0]["status"], res[0]["rule"]) == ("conflict", "double_payment_becomes_credit")

    # 3. a return synced after the desk renewed the loan: fine from the renewed due date
    barcode = make_item_barcode(11)
    sup = server.staff_token("S0001")
    put = requests.put(f"{server.url}/api/v1/items/{barcode}", timeout=10,
                       headers={"Authorization": f"Bearer {sup}"},
                       json={"barcode": barcode, "title": "红楼梦"})
    assert put.status_code == 200, put.text
    loan = server.post("/api/v1/loans", sup, json={
        "loan_id": "loan-11", "item_barcode": barcode, "reader_id": "r11",
        "due_on": "2026-11-01"})
    assert loan.status_code == 201, loan.text
    assert server.post("/api/v1/loans/loan-11/renew", desk,
                       json={"due_on": "2026-12-01"}).status_code == 200
    late_fine = k1.env("fee.assessed", {"fee_id": "fine-loan-11", "reader_id": "r11",
                                        "kind": "overdue", "amount": 230, "description": "late",
                                        "loan_id": "loan-11", "item_barcode": barcode})
    ret = k1.env("loan.returned", {"loan_id": "loan-11", "item_barcode": barcode,
                                   "reader_id": "r11", "returned_at": "2026-11-24T11:00:00+08:00",
                                   "fine_fee_id": "fine-loan-11", "hold": False})
    res = _push(server, t1, "K01", [late_fine, ret])
    assert res[1]["status"] == "conflict"
    assert res[1]["rule"] == "return_after_loan_renewal_uses_renewed_due_date"

    # 4. one ID number registered at two kiosks: merged into the first reader
    reg1 = k1.new_reader("rA", 40, k1.card(40))
    reg2 = k2.new_reader("rB", 40, k2.card(41))
    assert reg1[0]["payload"]["id_number"] == reg2[0]["payload"]["id_number"] == resident_id(40)
    assert _push(server, t1, "K01", reg1)[0]["status"] == "applied"
    res = _push(server, t2, "K02", reg2)
    assert (res[0]["status"], res[0]["rule"]) == ("conflict", "same_id_number_merges_into_first_reader")
    assert [r["status"] for r in res[1:]] == ["applied"] * 4
    assert server.get(f"/api/v1/cards/{k2.card(41)}", desk).json()["reader_id"] == "rA"

    # the staff list shows every rule, and the money adds up
    conflicts = server.get("/api/v1/conflicts", desk).json()
    rules = {c["rule"] for c in conflicts}
    assert rules == {"card_block_beats_offline_renewal", "double_payment_becomes_credit",
                     "return_after_loan_renewal_uses_renewed_due_date",
                     "same_id_number_merges_into_first_reader"}
    pulled = {}
    cursor = 0
    while True:
        page = server.get("/api/v1/kiosks/K02/changes", t2, params={"cursor": cursor}).json()
        pulled.update({(c["entity"], c["id"]): c["data"] for c in page["changes"]})
        cursor = page["next_cursor"]
        if not page["more"]:
            break
    reader = pulled[("reader", "r11")]
    assert reader["credit"] == 1000 + 500  # the refused renewal's fee + the second payment
    assert pulled[("fee", "fine-11")]["paid"] == 500
    assert pulled[("fee", "fine-loan-11")]["amount"] == 0
    assert pulled[("loan", "loan-11")]["returned_at"].startswith("2026-11-24")
    assert pulled[("item", barcode)]["status"] == "available"
    assert pulled[("reader", "rB")]["status"] == "cancelled"
    summary = server.get("/api/v1/summary", desk).json()
    # every yuan taken is on record: 3 new cards, the renewal fee + 2 fine payments, credits
    # make up the rest
    assert summary["payments"]["payment"]["amount"] == 3 * k1.NEW_CARD_FEN + 1000 + 2 * 500
    assert summary["credit"] == 1500

"""The dashboard's day, grouped by the database (``console.today_report``), equals the report
API's (``reports.range_report`` for that one day) on SQLite and PostgreSQL: two kiosks' new
readers, renewals and visitors pushed to a real server process as kiosks emit them, a renewal
refused as a conflict, a rejected payment, and a console cancellation with its deposit refund;
before and after the visitor's pass expires, and on a day with nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from record_server import reports
from record_server.console import readers_data, today_report
from record_server.db import Database
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    KioskEvents,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)

DAY = "2026-11-24"


def _push(server: ServerProcess, token: str, kiosk_id: str,
          events: list[dict[str, Any]]) -> list[str]:
    resp = server.post(f"/api/v1/kiosks/{kiosk_id}/events", token, json={"events": events})
    assert resp.status_code == 200, resp.text
    return [r["status"] + (f" {r.get('detail')}" if r["status"] == "rejected" else "")
            for r in resp.json()["results"]]


def test_the_dashboards_day_equals_the_report_apis(server: ServerProcess) -> None:
    t1, t2 = server.enroll("K01"), server.enroll("K02", branch="east")
    k1, k2 = KioskEvents("K01", DAY), KioskEvents("K02", DAY)
    card1, card2, card3 = k1.card(1), k2.card(2), k1.card(3)
    assert _push(server, t1, "K01", k1.new_reader("r1", 1, card1) + [k1.visit("K01-V000001")]
                 + k1.new_reader("r3", 3, card3)) == ["applied"] * 11
    assert _push(server, t2, "K02", k2.new_reader("r2", 2, card2)
                 + k2.renew_paid(card2, "r2")) == ["applied"] * 8
    desk = server.staff_token("S0002")
    assert server.post(f"/api/v1/cards/{card1}/block", desk,
                       json={"reason": "lost"}).status_code == 200
    assert _push(server, t2, "K02", k2.renew_paid(card1, "r1"))[-1] == "conflict"
    bad = k1.env("payment.recorded", {"payment_id": "pay-bad", "reader_id": "r1",
                                      "receipt_no": k1.receipt_no(), "method": "wechat",
                                      "amount": 700,
                                      "allocations": [{"fee_id": "nope", "amount": 700}]})
    assert _push(server, t1, "K01", [bad]) == ["rejected unknown_fee"]
    noon = dt.datetime.fromisoformat(f"{DAY}T12:00:00+08:00")
    db = Database(server.database_url)
    try:
        with db.write() as conn:  # the console's own cancellation: a refund at the office
            readers_data.cancel_and_refund(conn, reader_id="r3", staff_no="S0001",
                                           reason="moving away", now=noon)
        day = noon.date()
        with db.read() as conn:
            for now in (noon, noon.replace(hour=22), (noon + dt.timedelta(days=1))):
                grouped = today_report.one_day(conn, day, now)
                assert grouped == reports.range_report(conn, day, day, now), now
            at_noon = today_report.one_day(conn, day, noon)
            late = today_report.on_site_now(conn, noon.replace(hour=22))
            empty = today_report.one_day(conn, day + dt.timedelta(days=2), noon)
            assert empty == reports.range_report(conn, empty_day := day + dt.timedelta(days=2),
                                                 empty_day, noon)
    finally:
        db.dispose()
    totals = at_noon["totals"]
    assert (totals["cards_issued"], totals["cards_renewed"], totals["visitors"]) == (3, 1, 1)
    assert totals["payments"]["wechat"]["count"] == 5 and totals["refunds"]["count"] == 1
    assert set(at_noon["by_kiosk"]) == {"K01", "K02", "CONSOLE"}
    assert at_noon["on_site_now"] == 1
    assert late == 0  # the visitor's pass ends at 21:00
    assert empty["totals"]["cards_issued"] == 0 and empty["by_kiosk"] == {}

"""One push batch whose events depend on each other, through the real server (SQLite and
PostgreSQL): what a batch learns and writes together (``record_server.ingest.rowcache``: keys
known absent, rows it wrote, inserts and numbers written at its end) gives the same records
as event by event, also when an event in the middle is refused and the batch is rerun with a
savepoint per event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from library_core.clock import CHINA_TZ
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    KioskEvents,
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)


def _push(server: ServerProcess, token: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = server.post("/api/v1/kiosks/K01/events", token, json={"events": events})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["results"])


def _entities(server: ServerProcess, token: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Everything the kiosk pulls, by (entity, id)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    cursor = 0
    while True:
        page = server.get("/api/v1/kiosks/K01/changes", token,
                          params={"cursor": cursor, "limit": 1000}).json()
        for change in page["changes"]:
            out[(change["entity"], change["id"])] = change["data"]
        cursor = page["next_cursor"]
        if not page["more"]:
            return out


def _second_payment(k: KioskEvents, reader_id: str, card_no: str) -> dict[str, Any]:
    """The card fee of ``reader_id`` paid again in the same batch: it becomes credit."""
    return k.pay(reader_id, k.fee_of(card_no), 1000, f"pay-{reader_id}-again")


def test_dependent_events_in_one_batch_apply_as_one_by_one(server: ServerProcess) -> None:
    token = server.enroll("K01")
    # yesterday in China (its events at 10:00 are never in the future): the server's position
    # counts the receipts of the last seven days by its own (real) clock, so a fixed day would
    # fall out of that window a week later
    yesterday = dt.datetime.now(CHINA_TZ).date() - dt.timedelta(days=1)
    k = KioskEvents("K01", yesterday.isoformat())
    batch = (k.new_reader("rb1", 501, k.card(1)) + k.new_reader("rb2", 502, k.card(2))
             + [_second_payment(k, "rb1", k.card(1))])
    results = _push(server, token, batch)
    assert [r["status"] for r in results] == ["applied"] * 10 + ["conflict"]
    assert results[-1]["rule"] == "double_payment_becomes_credit"

    seen = _entities(server, token)
    assert seen[("fee", k.fee_of(k.card(1)))]["status"] == "paid"
    assert seen[("fee", k.fee_of(k.card(1)))]["paid"] == 1000  # the first payment, not both
    assert seen[("fee", k.fee_of(k.card(2)))]["status"] == "paid"
    assert seen[("reader", "rb1")]["credit"] == 1000  # the second became credit
    assert seen[("reader", "rb2")]["credit"] == 0
    assert {seen[("card", k.card(n))]["reader_id"] for n in (1, 2)} == {"rb1", "rb2"}
    pos = server.get("/api/v1/kiosks/K01/position", token).json()
    assert pos["card_serial"] == 2
    assert max(pos["receipts"].values()) == 3

    # the same events again: every one a duplicate, nothing changes
    again = _push(server, token, batch)
    assert {r["status"] for r in again} == {"duplicate"}
    assert _entities(server, token) == seen


def test_an_event_refused_mid_batch_leaves_no_trace(server: ServerProcess) -> None:
    token = server.enroll("K01")
    k = KioskEvents("K01")
    first = k.new_reader("rc1", 601, k.card(1))
    # a card numbered 99 for a reader nobody registered: refused after its number was checked
    stray = k.env("card.issued", {"card_no": k.card(99), "reader_id": "nobody", "uid": "0A0B0C0D",
                                  "generation": 1, "expires_on": "2029-11-24"})
    # a card issued twice: the second is refused
    twice = k.env("card.issued", {"card_no": k.card(1), "reader_id": "rc1", "uid": "0A0B0C0E",
                                  "generation": 1, "expires_on": "2029-11-24"})
    rest = k.new_reader("rc2", 602, k.card(2))
    results = _push(server, token, first + [stray, twice] + rest)
    statuses = [(r["status"], r.get("detail")) for r in results]
    assert statuses[5] == ("rejected", "unknown_reader")
    assert statuses[6] == ("rejected", "card_exists")
    assert [s for s, _ in statuses[:5] + statuses[7:]] == ["applied"] * 10

    seen = _entities(server, token)
    assert ("card", k.card(99)) not in seen
    assert seen[("card", k.card(1))]["uid"] == f"{601:08X}"  # the first issue, not the second
    assert seen[("card", k.card(2))]["reader_id"] == "rc2"
    assert seen[("fee", k.fee_of(k.card(2)))]["status"] == "paid"
    pos = server.get("/api/v1/kiosks/K01/position", token).json()
    assert pos["card_serial"] == 2  # the refused card's number 99 is not counted as used

"""A pulled row the kiosk cannot store is set aside, never holds the replica back (issue 10).

Through the real record server process (SQLite and PostgreSQL) and a real kiosk sync client:
the server's database is seeded with rows the kiosk cannot store (a card of generation 0, a
staff card number the kiosk already has for other staff) next to a real card block; the next
page is applied except those rows, which are quarantined, shown in staff diagnostics and
reported to the server on the next push; the block takes effect at the reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from kiosk.services.common import Tender
from library_core.errors import DomainError
from record_server import changes
from record_server import models as m
from record_server.db import Database
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.server_process import (  # noqa: F401 - fixtures
    ServerProcess,
    db_url_fixture,
    postgres_cluster_fixture,
    server_factory_fixture,
    server_fixture,
)
from tests.support.services import WECHAT_CODE, make_reader

STAFF_CARD = "20000000000014"  # a staff card number (S0001's)


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Any]:
    """The kiosk's store, use cases and UI backend wired like ``kiosk.app_runtime`` does."""
    from config.settings import demo_settings_path, load_settings
    from kiosk.app_runtime import build_services
    from kiosk.services.payment import SimulatedPaymentGateway
    from kiosk.ui.backend import Backend
    from library_core.clock import FixedClock
    from server_client.store import Store
    from tests.support.services import START, MemoryCardWriter, add_staff

    settings = load_settings(demo_settings_path(), env={})
    store = Store.open(tmp_path / "kiosk.sqlite3", kiosk_id=settings.kiosk.id)
    add_staff(store)
    clock, writer, gateway = FixedClock(START), MemoryCardWriter(), SimulatedPaymentGateway()
    services = build_services(settings, store=store, clock=clock, card_reader=writer,
                              gateway=gateway)
    backend = Backend(settings=settings, clock=clock, store=store, services=services,
                      card_reader=writer, scanner=None, printer=None, parser=None)
    yield backend, writer
    store.close()


def _seed(server: ServerProcess, *, cards: dict[str, int] | None = None,
          staff: dict[str, str] | None = None) -> None:
    """Write rows straight into the server's database (``cards``: card_no -> generation,
    ``staff``: staff_no -> card_no) and publish them as the server publishes any change."""
    db = Database(server.database_url)
    try:
        with db.write() as conn:
            for card_no, generation in (cards or {}).items():
                conn.execute(update(m.cards).where(m.cards.c.card_no == card_no)
                             .values(generation=generation))
            for staff_no, card_no in (staff or {}).items():
                conn.execute(update(m.staff).where(m.staff.c.staff_no == staff_no)
                             .values(card_no=card_no))
            changes.publish(conn, {"card": set(cards or ()), "staff": set(staff or ())})
    finally:
        db.engine.dispose()


def test_a_row_the_kiosk_cannot_store_is_set_aside_and_reported(
        kiosk: Any, server: ServerProcess) -> None:
    backend, writer = kiosk
    store = backend.store
    kiosk_id = store.kiosk_id
    token = server.enroll(kiosk_id)
    engine = SyncEngine(store, RecordServerClient(server.url, kiosk_id, token, retries=1,
                                                  backoff_s=0.01), clock=backend.clock)
    cards = backend.services["cards"]
    writer.place_blank()
    lost = cards.new_card(make_reader(1), Tender.payment_code(WECHAT_CODE))
    lost_card = writer.tapped()
    writer.place_blank()
    kept = cards.new_card(make_reader(2), Tender.payment_code(WECHAT_CODE))
    _seed(server, staff={"S0001": STAFF_CARD})  # S0001's staff card, as the kiosk has it
    engine.sync_once()
    assert store.read_one("SELECT card_no FROM staff WHERE staff_no = 'S0001'")[0] == STAFF_CARD
    assert store.pending_count() == 0 and store.quarantined_rows() == []
    cursor = store.pull_cursor()

    # on the server: a real card block (staff), the bad rows, and a good row after them
    staff = server.staff_token("S0001")
    assert server.post(f"/api/v1/cards/{lost.card_no}/block", staff,
                       json={"reason": "lost"}).status_code == 200
    # the rows the kiosk cannot store: a card of generation 0, and S0002 given S0001's card
    _seed(server, cards={kept.card_no: 0}, staff={"S0002": STAFF_CARD})
    assert requests_put(server, staff, "/api/v1/items/30000000000012",
                        {"barcode": "30000000000012", "title": "围城"}) == 200
    page = engine.client.pull(cursor)
    assert {(c["entity"], c["id"]) for c in page["changes"]} >= {
        ("card", lost.card_no), ("card", kept.card_no), ("staff", "S0002"),
        ("item", "30000000000012")}
    assert page["contract_version"] == 2

    engine.sync_once()  # push, pull (the page above), push again (carries the report)

    # the page was applied except the two rows, and the cursor is past all of it
    assert store.pull_cursor() == page["next_cursor"] > cursor
    assert engine.client.pull(store.pull_cursor())["changes"] == []
    assert store.read_one("SELECT status FROM cards WHERE card_no = ?",
                          (lost.card_no,))[0] == "lost"
    assert store.read_one("SELECT generation FROM cards WHERE card_no = ?",
                          (kept.card_no,))[0] == 1
    assert store.read_one("SELECT card_no FROM staff WHERE staff_no = 'S0002'")[0] is None
    assert store.read_one("SELECT title FROM items WHERE barcode = '30000000000012'")[0] == "围城"
    aside = {(q.entity, q.entity_id): q for q in store.quarantined_rows()}
    assert set(aside) == {("card", kept.card_no), ("staff", "S0002")}
    assert "generation" in aside[("card", kept.card_no)].reason
    assert "staff.card_no" in aside[("staff", "S0002")].reason
    assert all(q.reported for q in aside.values())

    # the lost card is refused at the reader
    writer.place(*lost_card)
    with pytest.raises(DomainError) as refused:
        cards.identify_card(*lost_card)
    assert refused.value.message_id == "card.lost"

    # staff diagnostics show it
    diag = dict(backend.diagnostics())
    assert diag["diag.quarantine"]["count"] == 2

    # the server recorded the report, once, as open conflicts it lists
    engine.sync_once()
    resp = server.get("/api/v1/conflicts", staff, params={"rule": "pull_quarantined"})
    assert resp.status_code == 200
    recorded = {(c["kiosk_id"], c["entity"], c["entity_id"]) for c in resp.json()}
    assert recorded == {(kiosk_id, "card", kept.card_no), (kiosk_id, "staff", "S0002")}
    assert len(resp.json()) == 2 and not any(c["resolved"] for c in resp.json())


def requests_put(server: ServerProcess, token: str, path: str, body: dict[str, Any]) -> int:
    import requests

    resp = requests.put(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"},
                        json=body, timeout=30)
    return resp.status_code


def test_openapi_shows_each_event_kinds_payload(server: ServerProcess) -> None:
    import requests

    from library_core import events

    doc = requests.get(f"{server.url}/openapi.json", timeout=30).json()
    envelope = doc["components"]["schemas"]["EventEnvelope"]
    kinds = {s["x-event-kind"] for s in envelope["properties"]["payload"]["anyOf"]}
    assert kinds == set(events.ALL_KINDS)
    card_issued = next(s for s in envelope["properties"]["payload"]["anyOf"]
                       if s["x-event-kind"] == "card.issued")
    assert card_issued["properties"]["generation"]["minimum"] == 1
    assert "quarantined" in doc["components"]["schemas"]["PushRequest"]["properties"]


LIES: list[tuple[str, list[dict[str, Any]]]] = [
    ("control character", [{"entity_id": "C1\x1b[2J"}]),
    ("empty key", [{"entity_id": ""}]),
    ("entity too long", [{"entity": "x" * 17}]),
    ("negative seq", [{"seq": -1}]),
    ("seq as text", [{"seq": "5"}]),
    ("naive time", [{"quarantined_at": "2026-11-24T10:00:00"}]),
    ("unknown field", [{"data": {"card_no": "1"}}]),
    ("too many", [{}] * 501),
    ("nothing at all", []),
]


def test_a_lying_quarantine_report_is_refused_and_records_nothing(
        server: ServerProcess) -> None:
    token = server.enroll("K01")
    staff = server.staff_token("S0001")
    good = {"seq": 5, "entity": "card", "entity_id": "20000000000022",
            "reason": "card.generation: Input should be greater than or equal to 1",
            "quarantined_at": "2026-11-24T10:00:00+08:00"}
    for name, rows in LIES:
        resp = server.post("/api/v1/kiosks/K01/events", token,
                           json={"events": [], "quarantined": [{**good, **r} for r in rows]})
        assert resp.status_code == 422, (name, resp.text)
    assert server.get("/api/v1/conflicts", staff,
                      params={"rule": "pull_quarantined"}).json() == []
    # the same kiosk's honest report is taken, and taken once when sent again
    for _ in range(2):
        assert server.post("/api/v1/kiosks/K01/events", token,
                           json={"events": [], "quarantined": [good]}).status_code == 200
    assert len(server.get("/api/v1/conflicts", staff,
                          params={"rule": "pull_quarantined"}).json()) == 1

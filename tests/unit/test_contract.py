"""The sync contract (issue 10): every event the real use cases emit validates against the
record server's own models, and a hand-broken event is refused at the kiosk's outbox with the
use case rolled back. Events come from the real use cases on a real SQLite store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from kiosk.payments.books import ReceiptHeader, UnappliedBooks
from kiosk.services.circulation import QUEUE_CHECKIN, CirculationDesk
from kiosk.services.common import Tender
from kiosk.services.ils_account import IlsAccountService
from kiosk.services.visitors import VisitorRequest
from library_core import contract, events
from library_core.errors import StoreError
from record_server import schemas as server_models
from server_client.sip2.circulation import Sip2Circulation
from server_client.sip2.client import Sip2Client, Sip2Login
from server_client.sip2.queue import StoreForwardQueue
from server_client.sip2.wire import Endpoint
from server_client.store import InvalidEvent, Tx
from server_client.store.intents import Intent, IntentStore
from tests.support.receipts import business_day, make_receipt_env
from tests.support.services import (
    WECHAT_CODE,
    ServicesEnv,
    make_reader,
    resident_id,
    services_env,  # noqa: F401 - fixture
)
from tests.support.test_ils import INSTITUTION, LOCATION, PASSWORD, USER, TestIls


def _more_use_cases(env: ServicesEnv) -> None:
    """The use cases a business day does not run: a fine waived, a card reported lost, a
    visitor signed out by staff, a queued return the ILS refused."""
    svc = env.services
    today = env.clock.now().date()
    env.writer.place_blank()
    reader = svc.cards.new_card(make_reader(5), Tender.payment_code(WECHAT_CODE))
    late = env.add_item(11, "围城")
    env.add_loan(reader.reader_id, late, due_on=today - dt.timedelta(days=5))
    session = svc.returns.start()
    session.scan(late)
    session.finish()
    fee = env.store.read_one("SELECT fee_id FROM fees WHERE status = 'open'")
    assert fee is not None
    svc.staff.waive_fee(env.supervisor(), str(fee[0]), "first time")
    svc.cards.report_lost(svc.cards.verify_reader(resident_id(5), "246813"))
    visit = svc.visitors.register(VisitorRequest(
        name="访客甲", phone="13900002222", purpose="reading", host_department="reading_room",
        consent=True))
    svc.visitors.close_by_staff(env.desk(), visit.visit.visit_id)
    # a return queued while the ILS was down, refused when forwarded (the SIP2 queue's own step)
    queue = StoreForwardQueue(env.store)
    queued = queue.add(QUEUE_CHECKIN, {"item": late}, at=env.clock.now())
    queue.settle(queued, "refused", "未借出 item not checked out", at=env.clock.now())
    # fines of the library's ILS paid at the kiosk (ils.fee_paid), against the test ILS
    with TestIls() as ils:
        client = Sip2Client(Endpoint("127.0.0.1", ils.port),
                            Sip2Login(USER, PASSWORD, LOCATION, INSTITUTION), env.clock)
        try:
            desk = CirculationDesk(Sip2Circulation(client), queue)
            IlsAccountService(desk, env.store.repositories(), env.clock, env.gateway,
                              env.config).pay("P0001", Tender.payment_code(WECHAT_CODE),
                                              password="1234")
        finally:
            client.close()
    # money a provider took for a card never made: booked and refunded by the payment recovery
    intents = IntentStore(env.store)
    otn = "LK000012611240000000912AB"
    intents.create(Intent(otn, "wechat", 2000, "new-card:gone", "open"), at=env.clock.now())
    intents.move(otn, "paid", at=env.clock.now(), transaction_id="4200000000000091")
    books = UnappliedBooks(intents, env.clock, ReceiptHeader(env.config.kiosk_id))
    books.book_refund(books.book_payment(intents.get(otn)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Every outbox envelope of a business day plus the other use cases, as pushed."""
    out: list[dict[str, Any]] = []
    for name, run in (("day", business_day), ("more", _more_use_cases)):
        env = make_receipt_env(tmp_path_factory.mktemp(name) / "kiosk.sqlite3")
        try:
            run(env)
            out += env.store.pending_events(10_000)
        finally:
            env.store.close()
    return out


def test_every_event_kind_is_emitted_by_a_use_case(emitted: list[dict[str, Any]]) -> None:
    assert {e["kind"] for e in emitted} == set(events.ALL_KINDS)


def test_every_emitted_event_validates_against_the_servers_models(
        emitted: list[dict[str, Any]]) -> None:
    for envelope in emitted:
        # as it goes on the wire: JSON, then the server's envelope and payload models
        wire = json.loads(json.dumps(envelope))
        parsed = server_models.PushRequest.model_validate({"events": [wire]}).events[0]
        assert parsed.contract_version == contract.CONTRACT_VERSION
        server_models.PAYLOADS[parsed.kind].model_validate(parsed.payload)


def _break_first(kind: str, breaker: Callable[[str, dict[str, Any], dict[str, Any]],
                                                tuple[str, dict[str, Any], dict[str, Any]]],
                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The first ``kind`` event a use case emits is broken by ``breaker`` before the outbox
    sees it (a use case with a bug); the outbox's own check is the real one."""
    real_emit = Tx.emit
    broken = {"done": False}

    def emit(self: Tx, k: str, payload: Any, **kw: Any) -> str:
        if k == kind and not broken["done"]:
            broken["done"] = True
            k, payload, kw = breaker(k, dict(payload), dict(kw))
        return real_emit(self, k, payload, **kw)

    monkeypatch.setattr(Tx, "emit", emit)


BREAKERS: dict[str, Callable[[str, dict[str, Any], dict[str, Any]],
                             tuple[str, dict[str, Any], dict[str, Any]]]] = {
    "wrong type": lambda k, p, kw: (k, {**p, "generation": "1"}, kw),
    "missing field": lambda k, p, kw: (k, {x: v for x, v in p.items() if x != "expires_on"}, kw),
    "unknown kind": lambda k, p, kw: ("card.lost", p, kw),
    "wrong contract version": lambda k, p, kw: (k, p, {**kw, "contract_version": 9}),
    "control character": lambda k, p, kw: (k, {**p, "uid": p["uid"] + "\x1b"}, kw),
}
REASONS = {"wrong type": "payload.generation", "missing field": "payload.expires_on",
           "unknown kind": "unknown event kind", "wrong contract version": "contract_version",
           "control character": "payload.uid"}


@pytest.mark.parametrize("how", sorted(BREAKERS))
def test_a_broken_event_is_refused_at_the_outbox_and_the_use_case_rolls_back(
        services_env: ServicesEnv, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        how: str) -> None:
    env = services_env
    env.writer.place_blank()
    before = env.snapshot()
    counters = env.store.read("SELECT name, value FROM counters ORDER BY name")
    _break_first(events.CARD_ISSUED, BREAKERS[how], monkeypatch)
    with pytest.raises(InvalidEvent) as info:
        env.services.cards.new_card(make_reader(1), Tender.payment_code(WECHAT_CODE))
    assert isinstance(info.value, StoreError) and info.value.message_id == "error.store.contract"
    assert REASONS[how] in info.value.detail
    assert env.snapshot() == before  # no reader, card, fee, payment, receipt or event
    assert env.store.read("SELECT name, value FROM counters ORDER BY name") == counters
    # the same use case, not broken, goes through
    monkeypatch.undo()
    env.services.cards.new_card(make_reader(1), Tender.payment_code(WECHAT_CODE))
    assert events.CARD_ISSUED in {e["kind"] for e in env.store.pending_events(100)}


def test_the_contract_decides_generation_and_description_once() -> None:
    issued = {"card_no": "20000000000014", "reader_id": "r1", "uid": "0A0B", "generation": 0,
              "expires_on": "2029-11-24"}
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        server_models.CardIssued.model_validate(issued)
    with pytest.raises(contract.ContractError, match="card.generation"):
        contract.validate_entity("card", {**issued, "status": "active", "issued_at": "x"})
    long = contract.fee_description("长" * 400, " (2026-11-01 → 2026-11-24)")
    assert len(long) == contract.FEE_DESCRIPTION_MAX and long.endswith("2026-11-24)")
    assert "\x1b" not in contract.fee_description("a\x1bb")


class _Client:
    """A record server stand-in for the SyncEngine unit tests: scripted pages, pushes kept."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.pushes: list[dict[str, Any]] = []

    def push(self, events: list[dict[str, Any]],
             quarantined: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        self.pushes.append({"events": events, "quarantined": quarantined})
        return {"results": [{"event_id": e["event_id"], "status": "applied"} for e in events],
                "next_seq": 1 + len(events)}

    def pull(self, cursor: int, limit: int = 500) -> dict[str, Any]:
        return self.pages.pop(0)


def _engine(env: ServicesEnv, client: _Client) -> Any:
    from server_client.sync import SyncEngine

    return SyncEngine(env.store, client, clock=env.clock)  # type: ignore[arg-type]


def test_a_page_of_another_contract_version_is_refused_and_the_cursor_stays(
        services_env: ServicesEnv) -> None:  # noqa: F811
    from library_core.errors import SyncError

    card = {"card_no": "20000000000014", "reader_id": "r1", "uid": "0A", "generation": 1,
            "status": "lost", "issued_at": "x", "expires_on": "2029-11-24"}
    engine = _engine(services_env, _Client([{
        "changes": [{"seq": 9, "entity": "card", "id": card["card_no"], "data": card}],
        "next_cursor": 9, "more": False, "contract_version": 9}]))
    with pytest.raises(SyncError) as info:
        engine.pull_all()
    assert info.value.message_id == "error.sync.contract"
    assert services_env.store.pull_cursor() == 0


def test_rows_set_aside_are_reported_on_the_next_push_even_with_no_event(
        services_env: ServicesEnv) -> None:  # noqa: F811
    store = services_env.store
    bad = {"card_no": "20000000000022", "reader_id": "r9", "uid": "0A", "generation": 0,
           "status": "active", "issued_at": "x", "expires_on": "2029-11-24"}
    client = _Client([{"changes": [{"seq": 5, "entity": "card", "id": bad["card_no"],
                                    "data": bad}], "next_cursor": 5, "more": False}])
    engine = _engine(services_env, client)
    engine.sync_once()  # push (nothing), pull (sets the row aside), push (the report alone)
    assert store.pull_cursor() == 5
    [push] = client.pushes
    assert push["events"] == [] and [q["entity_id"] for q in push["quarantined"]] == [
        "20000000000022"]
    server_models.PushRequest.model_validate(push)  # the server takes a report-only push
    client.pages.append({"changes": [], "next_cursor": 5, "more": False})
    engine.sync_once()
    assert len(client.pushes) == 1  # reported once

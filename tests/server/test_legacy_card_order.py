"""Card events an older kiosk build queued before their fees (the upgrade hazard of the card-fee
check, issue 11.1), over the real HTTP API of a real server process.

Before 5d9a584 the kiosk emitted a new card's ``card.issued`` right after ``reader.registered``,
then each fee under a random id and the payment of them; a replacement's ``card.replaced``
before its fee and payment. ``old_build`` turns the current kiosk use case's transaction into
exactly that (the diff of 5d9a584, undone). The server runs such a card event after its fees'
payment when they come in one batch, and has the kiosk send it again when a batch boundary cut
it from them (``record_server.ingest.legacy_order``); a thief gets no card for fees not paid.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from kiosk.services.common import Tender
from server_client.sync import RecordServerClient
from server_client.sync.engine import SyncEngine
from tests.server.test_forged_claims import (  # noqa: F401
    Pusher,
    forge_fixture,
    new_reader,
    refused,
    snapshot,
)
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import WECHAT_CODE, make_env, make_reader

CARD_KINDS = ("card.issued", "card.replaced")


def old_build(txn: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``txn`` (one kiosk transaction, as today's kiosk writes it) as the kiosk before 5d9a584
    wrote it: the card's event before its fees, the fees under random ids (``new_id``)."""
    card = next(e for e in txn if e["kind"] in CARD_KINDS)
    rest = [e for e in txn if e is not card]
    first_fee = next(i for i, e in enumerate(rest) if e["kind"] == "fee.assessed")
    out = copy.deepcopy(rest[:first_fee] + [card] + rest[first_fee:])
    renamed: dict[str, str] = {}
    for event in out:
        if event["kind"] == "fee.assessed":
            renamed[event["payload"]["fee_id"]] = str(uuid.uuid4())
            event["payload"]["fee_id"] = renamed[event["payload"]["fee_id"]]
        elif event["kind"] == "payment.recorded":
            for alloc in event["payload"]["allocations"]:
                alloc["fee_id"] = renamed.get(alloc["fee_id"], alloc["fee_id"])
    return out


def _cards_and_money(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            cards = [tuple(r) for r in conn.execute(text(
                "SELECT card_no, status FROM cards ORDER BY card_no"))]
            fees = [tuple(r) for r in conn.execute(text(
                "SELECT kind, amount, paid, status FROM fees ORDER BY kind, amount"))]
            paid = int(conn.execute(text("SELECT coalesce(sum(amount), 0) FROM payments"))
                       .scalar_one())
    finally:
        engine.dispose()
    return cards, fees, paid


def _statuses(p: Pusher, events: list[dict[str, Any]]) -> list[str]:
    return [r["status"] for r in p.push(events)]


def test_an_old_kiosks_new_card_and_replacement_apply_in_one_batch(forge: Pusher) -> None:
    forge.env.new_card(1)
    txn = forge.take()
    old = old_build(txn)
    assert [e["kind"] for e in old] == ["reader.registered", "card.issued", "fee.assessed",
                                        "fee.assessed", "payment.recorded"]
    assert _statuses(forge, old) == ["applied"] * 5
    services = forge.env.services
    auth = services.cards.verify_reader(make_reader(1).id_number, make_reader(1).pin)
    forge.env.writer.place_blank()
    services.cards.replace(auth, Tender.payment_code(WECHAT_CODE))
    block, *replacement = forge.take()
    old = old_build(replacement)
    assert [e["kind"] for e in old] == ["card.replaced", "fee.assessed", "payment.recorded"]
    assert _statuses(forge, [block, *old]) == ["applied"] * 4
    cards, fees, paid = _cards_and_money(forge.server.database_url)
    assert [status for _, status in cards] == ["replaced", "active"]
    assert fees == [("card", 1000, 1000, "paid"), ("deposit", 10000, 10000, "paid"),
                    ("replacement", 1500, 1500, "paid")]  # the schedule's, paid (fees.toml)
    assert paid == 12500


def _fresh(events: list[dict[str, Any]], receipt: int) -> list[dict[str, Any]]:
    """``events`` again as new events: new event ids, fee ids and payment id, the payment's
    receipt number ``receipt`` of the same day."""
    out = copy.deepcopy(events)
    renamed: dict[str, str] = {}
    for event in out:
        event["event_id"] = str(uuid.uuid4())
        payload = event["payload"]
        if event["kind"] == "fee.assessed":
            renamed[payload["fee_id"]] = payload["fee_id"] = str(uuid.uuid4())
        elif event["kind"] == "payment.recorded":
            payload["payment_id"] = str(uuid.uuid4())
            payload["receipt_no"] = f"{payload['receipt_no'][:-4]}{receipt:04d}"
            for alloc in payload["allocations"]:
                alloc["fee_id"] = renamed.get(alloc["fee_id"], alloc["fee_id"])
    return out


def test_no_card_for_old_order_fees_that_are_not_paid(forge: Pusher) -> None:
    first = new_reader(forge, 1)
    forge.env.new_card(3)
    third = forge.take()[0]  # a reader with no card yet
    forge.env.new_card(2)
    registered, *old = old_build(forge.take())
    assert [e["kind"] for e in old] == ["card.issued", "fee.assessed", "fee.assessed",
                                        "payment.recorded"]
    assert _statuses(forge, [third, registered]) == ["applied"] * 2

    def card_refused(events: list[dict[str, Any]], expected: list[str]) -> None:
        """The batch ``events``: its card event refused for its deposit, no card made."""
        before = _cards_and_money(forge.server.database_url)[0]
        results = forge.push(events)
        assert [(r["status"], r.get("detail")) for r in results][0] == (
            "rejected", "deposit_not_paid"), results
        assert [r["status"] for r in results[1:]] == expected, json.dumps(results)
        assert _cards_and_money(forge.server.database_url)[0] == before

    unpaid = _fresh(old, 801)  # its payment claims more than the fees: refused
    unpaid[3]["payload"]["amount"] += 1
    card_refused(unpaid, ["applied", "applied", "rejected"])
    unpaid = _fresh(old, 807)  # the same after another event: run last, still a final answer
    unpaid[3]["payload"]["amount"] += 1
    before = _cards_and_money(forge.server.database_url)[0]
    results = forge.push([_fresh([old[2]], 0)[0], *unpaid])
    assert [(r["status"], r.get("detail")) for r in results][:2] == [
        ("applied", None), ("rejected", "deposit_not_paid")], results
    assert _cards_and_money(forge.server.database_url)[0] == before
    cheap = _fresh(old, 802)  # a 1-fen "deposit", paid
    cheap[1]["payload"]["amount"] = 1
    cheap[3]["payload"]["amount"] = 1001
    cheap[3]["payload"]["allocations"][0]["amount"] = 1
    card_refused(cheap, ["applied", "applied", "applied"])
    reused = _fresh(old, 803)  # the first reader's deposit, paid long ago, offered again
    engine = create_engine(forge.server.database_url)
    with engine.connect() as conn:
        theirs = conn.execute(text("SELECT fee_id FROM fees WHERE kind = 'deposit' AND "
                                   "reader_id = :r"), {"r": first.reader_id}).scalar_one()
    engine.dispose()
    reused[1]["payload"]["fee_id"] = reused[3]["payload"]["allocations"][0]["fee_id"] = theirs
    card_refused(reused, ["rejected", "applied", "rejected"])  # fee_exists; fee_not_of_reader
    elsewhere = _fresh(old, 804)  # this reader's fees do not buy the third reader a card
    elsewhere[0]["payload"]["reader_id"] = third["payload"]["reader_id"]
    card_refused(elsewhere, ["applied", "applied", "applied"])
    # alone at the end of a batch: sent again (not kept), then refused as the batch's first
    tail = _fresh(old, 805)
    before = snapshot(forge.server.database_url)
    results = forge.push([tail[1], tail[0]])
    assert [r["status"] for r in results] == ["applied", "rejected"]
    assert results[1]["detail"].startswith("gap: deposit_not_paid"), results
    forge.seq -= 1  # the kiosk sends the same event again, under its own seq
    refused(forge, tail[0], "deposit_not_paid")
    assert snapshot(forge.server.database_url)["cards"] == before["cards"]
    # and the honest old order still gets its card
    assert _statuses(forge, _fresh(old, 806)) == ["applied"] * 4
    assert len(_cards_and_money(forge.server.database_url)[0]) == 2


def _queue_as_old_build(store: Any) -> int:
    """Rewrite the kiosk's pending outbox as the old build queued it (same events, same seqs
    in the old order); returns how many events are queued."""
    rows = store.read("SELECT event_id, seq, kind, payload FROM outbox WHERE status = 'pending'"
                      " ORDER BY seq")
    events = [{"event_id": r["event_id"], "seq": r["seq"], "kind": r["kind"],
               "payload": json.loads(r["payload"])} for r in rows]
    starts = [i for i, e in enumerate(events) if e["kind"] == "reader.registered"] + [len(events)]
    old = [e for a, b in zip(starts, starts[1:], strict=False) for e in old_build(events[a:b])]
    seqs = [e["seq"] for e in events]
    with store.transaction() as tx:
        for n, event in enumerate(old, start=1):
            tx.execute("UPDATE outbox SET seq = ? WHERE event_id = ?", (-n, event["event_id"]))
        for seq, event in zip(seqs, old, strict=True):
            tx.execute("UPDATE outbox SET seq = ?, payload = ? WHERE event_id = ?",
                       (seq, json.dumps(event["payload"]), event["event_id"]))
    return len(old)


@pytest.mark.parametrize("batch_size", [7, 9, 100])
def test_an_old_kiosks_queue_drains_whole_whatever_the_batch_cut(
        batch_size: int, tmp_path: Path, server_factory: Callable[..., ServerProcess]) -> None:
    """The kiosk's real sync engine pushes two old-order new cards (five events each) in
    batches of 7 (the second card's event last), 9 (it and one fee at the end) and 100."""
    server = server_factory()
    server.cli("migrate")
    server.start()
    token = server.enroll("K01")
    env = make_env(tmp_path / "kiosk.sqlite3")
    env.new_card(1)
    env.new_card(2)
    assert _queue_as_old_build(env.store) == 10
    kinds = [r["kind"] for r in env.store.read("SELECT kind FROM outbox ORDER BY seq")]
    assert kinds[5:7] == ["reader.registered", "card.issued"]
    engine = SyncEngine(env.store, RecordServerClient(server.url, "K01", token, retries=0,
                                                       backoff_s=0.01),
                        clock=env.clock, batch_size=batch_size)
    report = engine.push_all()
    assert (report.applied, report.rejected, env.store.pending_count()) == (10, 0, 0)
    cards, fees, paid = _cards_and_money(server.database_url)
    assert [status for _, status in cards] == ["active", "active"]
    assert [status for *_, status in fees] == ["paid"] * 4 and paid == 22000
    env.store.close()

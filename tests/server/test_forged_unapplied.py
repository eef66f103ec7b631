"""``payment.unapplied`` / ``payment.refunded`` over the real HTTP API of a real server process:
the honest pair made by the kiosk's recovery (``kiosk.payments.books``) applies as one payment
and one refund row; each lie a kiosk token could tell about them is refused with a named reason
and changes no row (``record_server.ingest.unapplied``)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from kiosk.payments.books import ReceiptHeader, UnappliedBooks
from server_client.store.intents import Intent, IntentStore
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import make_env

OTN = "LK000012611240000000112AB"
TID = "4200000000000077"


class Pusher:
    """A kiosk's pushes, every event numbered in the order sent (a forged one takes a seq)."""

    def __init__(self, server: ServerProcess, kiosk_id: str) -> None:
        self.server, self.kiosk_id = server, kiosk_id
        self.token = server.enroll(kiosk_id)
        self.seq = 0

    def push(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        batch = []
        for event in events:
            self.seq += 1
            batch.append({**event, "seq": self.seq, "kiosk_id": self.kiosk_id,
                          "event_id": str(uuid.uuid4())})
        resp = self.server.post(f"/api/v1/kiosks/{self.kiosk_id}/events", self.token,
                                json={"events": batch})
        assert resp.status_code == 200, resp.text
        return list(resp.json()["results"])


def _forged(event: dict[str, Any], receipt_n: int, **changes: Any) -> dict[str, Any]:
    forged = copy.deepcopy(event)
    day = forged["payload"]["receipt_no"].split("-")[1]
    kiosk = forged["payload"]["receipt_no"].split("-")[0]
    forged["payload"].update({"receipt_no": f"{kiosk}-{day}-{receipt_n:04d}", **changes})
    return forged


def _rows(server: ServerProcess) -> list[tuple[Any, ...]]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT kind, method, transaction_id, amount, kiosk_id, reader_id FROM payments"
                " ORDER BY kind, payment_id"))]
    finally:
        engine.dispose()


def test_the_recoverys_pair_applies_once_and_every_lie_about_it_is_refused(
        tmp_path: Path, server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    server.cli("migrate")
    server.start()
    env = make_env(tmp_path / "kiosk.sqlite3")
    card = env.new_card(1)  # a reader of ours, whose renewal's money is taken, never applied
    k01 = Pusher(server, "K01")
    issued = sorted(env.store.pending_events(100), key=lambda e: e["seq"])
    assert {r["status"] for r in k01.push(*issued)} == {"applied"}
    taken = _rows(server)
    intents = IntentStore(env.store)
    books = UnappliedBooks(intents, env.clock, ReceiptHeader("K01"))
    intents.create(Intent(OTN, "wechat", 2000, f"renewal:{card.card_no}", "open"),
                   at=env.clock.now())
    intents.move(OTN, "paid", at=env.clock.now(), transaction_id=TID)
    books.book_refund(books.book_payment(intents.get(OTN)))  # type: ignore[arg-type]
    unapplied, refunded = sorted(env.store.pending_events(100), key=lambda e: e["seq"])[-2:]
    assert (unapplied["kind"], refunded["kind"]) == ("payment.unapplied", "payment.refunded")
    assert unapplied["payload"]["reader_id"] == card.reader_id

    def refused(event: dict[str, Any], reason: str) -> None:
        before = _rows(server)
        (result,) = k01.push(event)
        assert (result["status"], result.get("detail")) == ("rejected", reason), result
        assert _rows(server) == before

    refused(_forged(unapplied, 901, payment_id="unapplied-LK0000126112400000099ZZZZ"),
            "unapplied_payment_id")
    refused(_forged(unapplied, 902, reader_id="R-never-registered"), "unknown_reader")
    assert _rows(server) == taken
    refused(_forged(refunded, 903), "refund_unknown_payment")  # its payment not in yet
    assert [r["status"] for r in k01.push(unapplied)] == ["applied"]
    refused(_forged(unapplied, 904), "payment_exists")  # the same trade booked again
    other = "LK0000126112400000002CCCC"
    refused(_forged(unapplied, 905, payment_id=f"unapplied-{other}", out_trade_no=other),
            "transaction_booked")
    refused(_forged(refunded, 906, amount=2001), "refund_exceeds_payment")
    refused(_forged(refunded, 907, transaction_id="4200000000000078"), "refund_trade_differs")
    refused(_forged(refunded, 908, method="alipay"), "refund_trade_differs")
    refused(_forged(refunded, 909, payment_id="refund-elsewhere"), "refund_payment_id")
    k02 = Pusher(server, "K02")  # another kiosk refunding K01's payment
    (result,) = k02.push(_forged(refunded, 1, receipt_no="K02-20261124-0001"))
    assert (result["status"], result.get("detail")) == ("rejected", "refund_other_kiosk")
    assert [r["status"] for r in k01.push(refunded)] == ["applied"]
    refused(_forged(refunded, 910, payment_id=f"refund-{OTN}R2", out_refund_no=f"{OTN}R2"),
            "refund_exceeds_payment")  # a second refund of money already given back
    assert sorted(set(_rows(server)) - set(taken)) == [
        ("payment", "wechat", TID, 2000, "K01", card.reader_id),
        ("refund", "wechat", TID, 2000, "K01", None)]  # a deposit refund counts no such row
    env.store.close()


@pytest.mark.parametrize("field, value", [
    ("amount", 0), ("method", "cash"), ("transaction_id", "42 00"), ("purpose", "NEW CARD\n")])
def test_a_malformed_unapplied_payment_is_refused_by_the_contract(field: str, value: Any,
                                                                   tmp_path: Path) -> None:
    from library_core.contract import ContractError, validate_event

    env = make_env(tmp_path / "kiosk.sqlite3")
    intents = IntentStore(env.store)
    intents.create(Intent(OTN, "wechat", 2000, "new-card:R-gone", "open"), at=env.clock.now())
    intents.move(OTN, "paid", at=env.clock.now(), transaction_id=TID)
    UnappliedBooks(intents, env.clock, ReceiptHeader("K01")).book_payment(
        intents.get(OTN))  # type: ignore[arg-type]
    (event,) = env.store.pending_events(10)
    validate_event(event)  # the honest one passes
    with pytest.raises(ContractError):
        validate_event({**event, "payload": {**event["payload"], field: value}})
    env.store.close()

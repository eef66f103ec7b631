"""A provider trade is money in once, and the payment recovery's ids are its own (issue 13 with
issue 11.1), over the real HTTP API of a real server process (SQLite and PostgreSQL).

The kiosk's recovery books a trade whose paid-for action never happened as
``payment.unapplied`` under ``unapplied-<out_trade_no>`` and its refund as
``payment.refunded`` under ``refund-<out_refund_no>`` (``kiosk.payments.books``). A thief with a
kiosk token pushes a ``payment.recorded`` (or a deposit refund) under one of those ids, or books
a trade already booked again: each is refused by name (``record_server.ingest.trades``) and
changes nothing; the recovery's own bookings still apply. The events come from the real kiosk
use cases (fees, deposit refund) and the real recovery books; a lie is written into a copy.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from kiosk.payments.books import ReceiptHeader, UnappliedBooks
from kiosk.services.common import Tender
from server_client.store.intents import Intent, IntentStore
from tests.server.test_forged_claims import (  # noqa: F401
    Pusher,
    _cancel,
    forge_fixture,
    new_reader,
    of_kind,
    open_fine,
    refused,
)
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import WECHAT_CODE

OTN = "LK0000126112400000007AB12"
TID = "4200000000202612010001"


def _receipt(event: dict[str, Any], n: int) -> str:
    """Receipt number ``n`` of the day and kiosk of ``event``'s (unused by the kiosk)."""
    kiosk, day, _ = event["payload"]["receipt_no"].split("-")
    return f"{kiosk}-{day}-{n:04d}"


def _lie(event: dict[str, Any], n: int, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["payload"].update({"receipt_no": _receipt(event, n), **changes})
    return out


def _recovery(p: Pusher, reader_id: str, otn: str = OTN, tid: str = TID) -> tuple[
        dict[str, Any], dict[str, Any]]:
    """The recovery's unapplied payment of a 2000-fen WeChat trade and its refund."""
    intents = IntentStore(p.env.store)
    books = UnappliedBooks(intents, p.env.clock, ReceiptHeader("K01"))
    intents.create(Intent(otn, "wechat", 2000, f"fees:{reader_id}", "open"),
                   at=p.env.clock.now())
    intents.move(otn, "paid", at=p.env.clock.now(), transaction_id=tid)
    books.book_refund(books.book_payment(intents.get(otn)))  # type: ignore[arg-type]
    unapplied, refunded = p.take()
    assert (unapplied["kind"], refunded["kind"]) == ("payment.unapplied", "payment.refunded")
    assert unapplied["payload"]["payment_id"] == f"unapplied-{otn}"
    return unapplied, refunded


def _fee_payment(p: Pusher, reader_id: str, serial: int = 100) -> dict[str, Any]:
    """The fees use case's payment of an open fine (not pushed yet)."""
    open_fine(p, reader_id, serial)
    p.env.services.fees.pay(reader_id, Tender.payment_code(WECHAT_CODE))
    return of_kind(p.take(), "payment.recorded")


def test_a_payment_under_the_recoverys_ids_is_refused_and_the_recovery_still_books(
        forge: Pusher) -> None:
    reader = new_reader(forge)
    payment = _fee_payment(forge, reader.reader_id)
    unapplied, refunded = _recovery(forge, reader.reader_id)
    as_unapplied = _lie(payment, 901, payment_id=unapplied["payload"]["payment_id"],
                        transaction_id=TID, out_trade_no=OTN)
    refused(forge, as_unapplied, "payment_id_reserved")  # the fine "paid" by the lost trade
    refused(forge, _lie(payment, 902, payment_id=refunded["payload"]["payment_id"]),
            "payment_id_reserved")
    refused(forge, _lie(payment, 903, payment_id="unapplied-anything"), "payment_id_reserved")
    # the recovery's own bookings were not squatted
    assert [r["status"] for r in forge.push([unapplied, refunded])] == ["applied"] * 2
    refused(forge, copy.deepcopy(refunded), "payment_exists")  # its refund once only
    assert forge.push([payment])[0]["status"] == "applied"  # the fine's own payment


def test_a_trade_already_booked_is_not_booked_again_as_any_kind(forge: Pusher) -> None:
    reader = new_reader(forge)
    payment = _fee_payment(forge, reader.reader_id)
    unapplied, refunded = _recovery(forge, reader.reader_id)
    assert [r["status"] for r in forge.push([unapplied, refunded])] == ["applied"] * 2
    # the unapplied (and refunded) trade "paid the fine" too
    refused(forge, _lie(payment, 911, transaction_id=TID, out_trade_no=OTN), "trade_booked")
    refused(forge, _lie(payment, 912, transaction_id=TID), "transaction_booked")
    refused(forge, _lie(payment, 913, transaction_id="4200000000202612019999",
                        out_trade_no=OTN), "trade_booked")
    refused(forge, _lie(payment, 914, method="credit", transaction_id="4200000000202612018888"),
            "provider_ref_not_mobile")  # credit is no provider's trade
    # the fine's payment, as a real adapter's (a trade of ours), applies once
    trade = _lie(payment, 915, transaction_id="4200000000202612010002",
                 out_trade_no="LK0000126112400000008CD34")
    assert forge.push([trade])[0]["status"] == "applied"
    again = _lie(trade, 916, payment_id=str(uuid.uuid4()))
    refused(forge, again, "trade_booked")  # the same trade booked twice
    # and the recovery may not book that trade as unapplied afterwards
    late = _lie(unapplied, 917, payment_id="unapplied-LK0000126112400000008CD34",
                out_trade_no="LK0000126112400000008CD34",
                transaction_id="4200000000202612010002")
    refused(forge, late, "trade_booked")
    other_otn = _lie(unapplied, 918, payment_id="unapplied-LK0000126112400000009EF56",
                     out_trade_no="LK0000126112400000009EF56",
                     transaction_id="4200000000202612010002")
    refused(forge, other_otn, "transaction_booked")


def test_a_kiosk_books_only_its_own_trades(forge: Pusher) -> None:
    """K01 (kiosk number 1) books a trade whose out-trade-number another kiosk made, or one not
    of our form: refused, whatever kind books it. (Two kiosks booking one trade at the same time
    could otherwise both find it unbooked: only one kiosk's pushes may name it, and those take
    its row's lock in turn.)"""
    reader = new_reader(forge)
    payment = _fee_payment(forge, reader.reader_id)
    unapplied, _refunded = _recovery(forge, reader.reader_id)
    theirs = "LK0000226112400000007AB12"  # kiosk 2's seventh intent of the day
    for n, otn in enumerate((theirs, "LK00001261124000000070000X", "4200000000202612010009")):
        refused(forge, _lie(payment, 951 + n, transaction_id=f"42000000002026120300{n:02d}",
                            out_trade_no=otn), "number_out_of_range: out_trade_no")
    refused(forge, _lie(unapplied, 955, payment_id=f"unapplied-{theirs}", out_trade_no=theirs),
            "number_out_of_range: out_trade_no")
    assert [r["status"] for r in forge.push([unapplied])] == ["applied"]  # its own: booked


def test_simulated_payments_may_share_an_id_but_not_a_real_trades(forge: Pusher) -> None:
    """The demo's simulated gateway numbers its ids from 1 at each kiosk start and carries no
    out-trade-number: not a trade of ours, so its ids are not held unique; a real one's is."""
    reader = new_reader(forge)
    payment = _fee_payment(forge, reader.reader_id)
    booked = payment["payload"]["transaction_id"]
    assert booked.startswith("SIM") and "out_trade_no" not in payment["payload"]
    assert forge.push([payment])[0]["status"] == "applied"
    restarted = _fee_payment(forge, reader.reader_id, 101)
    restarted["payload"]["transaction_id"] = booked  # a restarted simulator's first id again
    assert forge.push([restarted])[0]["status"] == "applied"
    unapplied, _ = _recovery(forge, reader.reader_id)
    refused(forge, _lie(unapplied, 921, transaction_id=booked), "transaction_booked")
    assert forge.push([unapplied])[0]["status"] == "applied"  # a real trade, its own id
    refused(forge, _lie(payment, 922, payment_id=str(uuid.uuid4()), transaction_id=TID),
            "transaction_booked")  # no out-trade-number, but a real trade's id


def test_a_deposit_refund_under_a_recovery_id_is_refused(forge: Pusher) -> None:
    cancel, refund = _cancel(forge)
    assert [r["status"] for r in forge.push(cancel)] == ["applied"] * 2
    refused(forge, _lie(refund, 931, payment_id=f"unapplied-{OTN}"), "payment_id_reserved")
    refused(forge, _lie(refund, 932, payment_id=f"refund-{OTN}R"), "payment_id_reserved")
    assert forge.push([refund])[0]["status"] == "applied"


def test_an_ils_payment_is_money_in_once_too(forge: Pusher) -> None:
    """``ils.fee_paid`` (fines of the ILS paid at the kiosk) books money in like a payment: not
    under the recovery's ids, not of a trade already booked. (Its kiosk use case needs a SIP2
    ILS, which this server venv has not: the event is the recovery's envelope with the
    ``IlsFeePaid`` payload the kiosk's ``ils_account`` writes.)"""
    reader = new_reader(forge)
    unapplied, refunded = _recovery(forge, reader.reader_id)
    assert [r["status"] for r in forge.push([unapplied, refunded])] == ["applied"] * 2
    ils = copy.deepcopy(unapplied)
    ils["kind"] = "ils.fee_paid"
    ils["payload"] = {"payment_id": str(uuid.uuid4()), "receipt_no": _receipt(unapplied, 941),
                      "patron": "P0001", "reader_id": reader.reader_id, "method": "wechat",
                      "amount": 2000, "transaction_id": TID, "out_trade_no": OTN}
    refused(forge, ils, "trade_booked")
    new_trade = {"transaction_id": "4200000000202612010004",
                 "out_trade_no": "LK00001261124000000104B78"}
    refused(forge, _lie(ils, 942, payment_id="unapplied-LK00001261124000000104B78",
                        **new_trade), "payment_id_reserved")
    paid = _lie(ils, 943, **new_trade) | {"event_id": str(uuid.uuid4())}
    assert forge.push([paid])[0]["status"] == "applied"
    refused(forge, _lie(ils, 944, payment_id=str(uuid.uuid4()), **new_trade), "trade_booked")

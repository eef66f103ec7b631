"""A kiosk process for the payment crash drills: ``issue`` a new card paid through the real
gateway of ``kiosk.toml`` (optionally SIGKILLing itself at a named step), or ``recover`` the
open intents the way ``kiosk run`` does at start-up, then push the outbox to the record server
(``--server URL --token TOKEN``) as its sync loop would. ``--kill refund_booking`` dies in the
recovery after the provider accepted the refund, before its booking commits. Prints one JSON
line: intents, payments (kind, transaction id, amount), cards, outbox (kind: status).

    python -m tests.support.pay_child issue CONFIG STORE [--kill paid_mark|card_write|settled]
    python -m tests.support.pay_child recover CONFIG STORE [--server URL --token T]
        [--kill refund_booking]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

from config.settings import load_settings
from kiosk.payments.factory import build_gateway, recover_open_intents
from kiosk.payments.lifecycle import DurablePaymentGateway
from kiosk.services import build_services
from kiosk.services.common import Tender
from library_core.clock import FixedClock
from server_client.store import Store
from server_client.store.intents import IntentStore
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.pay_setup import LIBRARY_KEY, code_for
from tests.support.services import START, make_env, make_reader


def _die(*_a: Any, **_k: Any) -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _report(store: Store, **extra: Any) -> None:
    intents = [{"out_trade_no": i.out_trade_no, "state": i.state, "transaction_id": i.transaction_id}
               for i in IntentStore(store).all()]
    payments = [dict(r) for r in store.read(
        "SELECT kind, transaction_id, amount FROM payments ORDER BY created_at, kind")]
    outbox = [f"{r['kind']}: {r['status']}" for r in store.read(
        "SELECT kind, status FROM outbox ORDER BY seq")]
    print(json.dumps({"intents": intents, "payments": payments, "outbox": outbox,
                      "cards": store.count("cards"), **extra}), flush=True)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("issue", "recover"))
    p.add_argument("config")
    p.add_argument("store")
    p.add_argument("--kill", default="")
    p.add_argument("--server", default="")
    p.add_argument("--token", default="")
    args = p.parse_args()
    settings = load_settings(args.config, env={"LIBRARY_KEY": LIBRARY_KEY})
    clock = FixedClock(START)
    if args.mode == "recover":
        store = Store.open(args.store, kiosk_id="K01")
        gateway = build_gateway(settings, store=store, clock=clock, kiosk_no=1)
        if args.kill == "refund_booking":  # the provider refunded; our booking not committed
            gateway.books.book_refund = _die
        recover_open_intents(gateway)
        if args.server:
            SyncEngine(store, RecordServerClient(args.server, "K01", args.token,
                                                 retries=1)).push_all()
        _report(store)
        return 0
    env = make_env(args.store, clock=clock)
    gateway = build_gateway(settings, store=env.store, clock=clock, kiosk_no=1)
    assert isinstance(gateway, DurablePaymentGateway)
    if args.kill == "paid_mark":  # the provider took the money; nothing of ours committed yet
        move = gateway.intents.move
        gateway.intents.move = lambda otn, state, **kw: (  # type: ignore[method-assign]
            _die() if state == "paid" else move(otn, state, **kw))
    elif args.kill == "card_write":  # inside the use case's transaction, before its COMMIT
        env.writer.write_token = _die  # type: ignore[method-assign]
    elif args.kill == "settled":  # the use case committed; the intent not yet marked booked
        gateway.settled = _die  # type: ignore[method-assign]
    services = build_services(env.store, clock, gateway, env.writer, env.config)
    env.writer.place_blank()
    kind = settings.payment.type
    result = services.cards.new_card(make_reader(1), Tender.payment_code(code_for(kind)))
    _report(env.store, card_no=result.card_no)
    return 0


if __name__ == "__main__":
    sys.exit(main())

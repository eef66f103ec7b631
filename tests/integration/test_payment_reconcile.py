"""Reconciliation end to end: a kiosk takes payments through the real adapter against the
provider's emulator and pushes them to a real record server process; the provider's bill of
the day (written from the emulator's books, the documented CSV layout) gets a planted mismatch
of each kind; ``record-server reconcile`` lists exactly those."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kiosk.payments.factory import build_gateway
from kiosk.services import build_services
from kiosk.services.common import Tender
from tests.support.bills import alipay_bill, trades_of, wechat_bill
from tests.support.pay_setup import code_for, pay_setup
from tests.support.server_process import (  # noqa: F401
    PYTHON,
    REPO,
    ServerProcess,
    server_factory_fixture,
)
from tests.support.services import make_env, make_reader


def _push(server: ServerProcess, token: str, events: list[dict[str, Any]]) -> None:
    for seq, event in enumerate(events, start=1):
        event["seq"] = seq
    resp = server.post("/api/v1/kiosks/K01/events", token, json={"events": events})
    assert resp.status_code == 200, resp.text
    assert {r["status"] for r in resp.json()["results"]} == {"applied"}, resp.json()


def _reconcile(server: ServerProcess, kind: str, bill: Path) -> tuple[int, dict[str, Any]]:
    res = subprocess.run([str(PYTHON), "-m", "record_server", "reconcile", "--provider", kind,
                          "--bill", str(bill), "--staff-no", "S0001",  # a supervisor's import
                          "--data-dir", str(server.data_dir),
                          "--database-url", server.database_url],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout)


@pytest.mark.parametrize("kind", ["wechat", "alipay"])
def test_a_planted_mismatch_of_each_kind_is_found_in_the_providers_bill(
        kind: str, tmp_path: Path, server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    server.cli("migrate")
    server.create_staff("S0001", role="supervisor")
    server.start()
    token = server.enroll("K01")
    with pay_setup(kind, tmp_path / "pay") as setup:
        env = make_env(tmp_path / "kiosk.sqlite3")
        gateway = build_gateway(setup.settings(), store=env.store, clock=env.clock, kiosk_no=1)
        services = build_services(env.store, env.clock, gateway, env.writer, env.config)
        paid = []
        for seq in (1, 2, 3):  # three readers' new cards, each paid with a payment code
            env.writer.place_blank()
            paid.append(services.cards.new_card(make_reader(seq), Tender.payment_code(code_for(kind))))
        # money taken and given back in full (a later step failed): no mismatch
        back = gateway.charge(code=code_for(kind), amount=500, reference="fees:refunded")
        gateway.refund(back, reason="card write failed")
        # money taken with no payment of ours (the books lost it): planted "not in books"
        orphan = gateway.charge(code=code_for(kind), amount=700, reference="fees:orphan")
        events = sorted(env.store.pending_events(10_000), key=lambda e: e["seq"])
        recorded = [e["payload"] for e in events if e["kind"] == "payment.recorded"]
        assert len(recorded) == 3 and all(p["transaction_id"] and p["out_trade_no"]
                                          for p in recorded)
        _push(server, token, events)
        trades = {t.transaction_id: t for t in trades_of(setup.emulator.books, "2026-11-24 10:00:00")}
        assert len(trades) == 5
        first, second, third = (p["transaction_id"] for p in recorded)
        # the bill as published, but: the second's amount differs, the third is not listed
        trades[second] = dataclasses.replace(trades[second], amount=trades[second].amount + 1)
        del trades[third]
        bill = tmp_path / f"{kind}-2026-11-24.csv"
        bill.write_bytes((wechat_bill if kind == "wechat" else alipay_bill)(trades.values()))
        code, result = _reconcile(server, kind, bill)
        env.store.close()
    found = {(m["kind"], m["transaction_id"]) for m in result["mismatches"]}
    assert found == {("amount_differs", second), ("not_at_provider", third),
                     ("not_in_books", orphan.transaction_id)}
    assert code == 1 and result["matched"] == 1
    by_kind = {m["kind"]: m for m in result["mismatches"]}
    assert by_kind["not_in_books"]["provider_amount"] == 700
    assert by_kind["amount_differs"]["provider_amount"] == by_kind["amount_differs"]["books_amount"] + 1
    assert by_kind["not_at_provider"]["receipt_no"].startswith("K01-")
    assert first not in {m["transaction_id"] for m in result["mismatches"]}

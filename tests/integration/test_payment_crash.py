"""Crash drills of the payment lifecycle: a real kiosk process (``tests.support.pay_child``)
issues a card paid through the real WeChat Pay / Alipay adapter against the emulator and is
SIGKILLed at a step; a fresh process then recovers the open intents as ``kiosk run`` does and
pushes its outbox to a real record server process. Money is never kept without a record, a
payment is booked exactly once, and a trade is never both settled and reversed.

A trade the provider took for a card that was never made is booked as an unapplied payment and
refunded, the refund booked too (``kiosk.payments.books``): the server then has one payment
and one refund for it, and the provider's bill of the emulator's ledger reconciles with no
mismatch."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from record_server.reconcile import reconcile_file
from tests.support.bills import alipay_bill, trades_of, wechat_bill
from tests.support.pay_emulator_base import Books, Script
from tests.support.pay_setup import PaySetup, pay_setup
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def _child(mode: str, config: Path, store: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.support.pay_child", mode, str(config),
                             str(store), *extra], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(mode: str, config: Path, store: Path, *extra: str) -> tuple[int, dict[str, Any] | None]:
    proc = _child(mode, config, store, *extra)
    out, err = proc.communicate(timeout=60)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    assert proc.returncode in (0, -signal.SIGKILL), err
    return proc.returncode, json.loads(lines[-1]) if lines else None


def _calls(books: Books, kind: str, what: str) -> int:
    names = {"wechat": {"refund": "/secapi/pay/refund", "reverse": "/secapi/pay/reverse"},
             "alipay": {"refund": "alipay.trade.refund", "reverse": "alipay.trade.cancel"}}
    return books.count(names[kind][what])


class Kiosk:
    """The drill's kiosk store and config, and the record server it pushes to (if any)."""

    def __init__(self, setup: PaySetup, store: Path, server: ServerProcess | None) -> None:
        self.setup, self.store = setup, store
        self._server = server
        self.token = server.enroll("K01") if server is not None else ""

    @property
    def server(self) -> ServerProcess:
        assert self._server is not None, "this drill has no record server"
        return self._server

    def issue(self, *extra: str) -> tuple[int, dict[str, Any] | None]:
        return _run("issue", self.setup.config, self.store, *extra)

    def restart(self, *extra: str) -> dict[str, Any] | None:
        """A start-up: recovery, then a push of the outbox."""
        push = ("--server", self.server.url, "--token", self.token) if self._server else ()
        _, state = _run("recover", self.setup.config, self.store, *push, *extra)
        return state

    def server_rows(self) -> list[tuple[str, str, str, int]]:
        """The record server's payments: (kind, method, transaction id, amount)."""
        path = self.server.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            return [tuple(r) for r in db.execute(  # type: ignore[misc]
                "SELECT kind, method, transaction_id, amount FROM payments ORDER BY kind")]

    def reconcile(self) -> dict[str, Any]:
        """The server's reconciliation (``reconcile_file``, as the console and the CLI call it)
        of the provider's bill written from the emulator's ledger."""
        kind = self.setup.kind
        trades = trades_of(self.setup.emulator.books, "2026-11-24 10:00:00")
        bill = (wechat_bill if kind == "wechat" else alipay_bill)(trades)
        engine = sa.create_engine(self.server.database_url)
        try:
            with engine.connect() as conn:
                return reconcile_file(conn, kind, bill, days=["2026-11-24"]).to_dict()
        finally:
            engine.dispose()


@pytest.fixture(params=["wechat", "alipay"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    srv = server_factory()
    srv.cli("migrate")
    return srv.start()


def _booked_once_and_refunded(k: Kiosk, state: dict[str, Any] | None) -> None:
    """One payment and one refund of the trade, in our books, pushed, at the server, and in
    the provider's ledger; the reconciliation matches both rows."""
    assert state is not None
    books = k.setup.emulator.books
    (trade,) = books.trades.values()
    (intent,) = state["intents"]
    assert intent["state"] == "refunded" and intent["transaction_id"] == trade.transaction_id
    assert state["payments"] == [
        {"kind": "payment", "transaction_id": trade.transaction_id, "amount": trade.amount},
        {"kind": "refund", "transaction_id": trade.transaction_id, "amount": trade.amount}]
    assert state["cards"] == 0  # the card was never made
    assert state["outbox"] == ["payment.unapplied: applied", "payment.refunded: applied"]
    method = k.setup.kind
    assert k.server_rows() == [("payment", method, trade.transaction_id, trade.amount),
                               ("refund", method, trade.transaction_id, trade.amount)]
    assert books.kept() == 0 and trade.refunded == trade.amount
    assert _calls(books, method, "reverse") == 0  # settled, never also reversed
    result = k.reconcile()
    assert result["mismatches"] == [] and result["matched"] == 2
    assert result["books_total"] == result["provider_total"] == 0


@pytest.mark.parametrize("kill", ["paid_mark", "card_write"])
def test_killed_after_the_provider_took_the_money_is_booked_once_and_refunded(
        kind: str, kill: str, tmp_path: Path, server: ServerProcess) -> None:
    with pay_setup(kind, tmp_path / "pay") as setup:
        k = Kiosk(setup, tmp_path / "kiosk.sqlite3", server)
        code, _ = k.issue("--kill", kill)
        assert code == -signal.SIGKILL
        books = setup.emulator.books
        assert books.kept() > 0 and len(books.trades) == 1  # taken, and we died
        after = k.restart()
        _booked_once_and_refunded(k, after)
        assert _calls(books, kind, "refund") == 1
        again = k.restart()  # a second start changes nothing, here or there
        assert again == after and _calls(books, kind, "refund") == 1
        _booked_once_and_refunded(k, again)


def test_killed_between_the_refund_and_its_booking_refunds_once(
        kind: str, tmp_path: Path, server: ServerProcess) -> None:
    with pay_setup(kind, tmp_path / "pay") as setup:
        k = Kiosk(setup, tmp_path / "kiosk.sqlite3", server)
        assert k.issue("--kill", "card_write")[0] == -signal.SIGKILL
        books = setup.emulator.books
        assert k.restart("--kill", "refund_booking") is None  # killed in the recovery
        assert books.kept() == 0 and _calls(books, kind, "refund") == 1  # the provider refunded
        after = k.restart()  # the refund asked again under the same refund number: no second
        _booked_once_and_refunded(k, after)
        assert _calls(books, kind, "refund") == 2


def test_killed_after_our_commit_is_booked_once_and_not_refunded(
        kind: str, tmp_path: Path, server: ServerProcess) -> None:
    with pay_setup(kind, tmp_path / "pay") as setup:
        k = Kiosk(setup, tmp_path / "kiosk.sqlite3", server)
        code, _ = k.issue("--kill", "settled")  # the card and its payment committed
        assert code == -signal.SIGKILL
        after = k.restart()
        assert after is not None
        books = setup.emulator.books
        (trade,) = books.trades.values()
        (intent,) = after["intents"]
        assert intent["state"] == "booked"  # nothing more is done
        assert after["payments"] == [{"kind": "payment", "transaction_id": trade.transaction_id,
                                      "amount": trade.amount}]
        assert after["cards"] == 1 and books.kept() == trade.amount
        assert _calls(books, kind, "refund") == 0 and _calls(books, kind, "reverse") == 0
        assert "payment.recorded: applied" in after["outbox"]
        assert not any(e.startswith(("payment.unapplied", "payment.refunded"))
                       for e in after["outbox"])
        assert k.server_rows() == [("payment", kind, trade.transaction_id, trade.amount)]
        result = k.reconcile()
        assert result["mismatches"] == [] and result["matched"] == 1
        assert k.restart() == after and k.server_rows() == [
            ("payment", kind, trade.transaction_id, trade.amount)]


@pytest.mark.parametrize("after", ["paid", "none"])
def test_killed_before_the_provider_answered_is_settled_or_reversed_never_both(
        kind: str, after: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("server") if after == "paid" else None
    with pay_setup(kind, tmp_path / "pay", timeout_s=30) as setup:
        books = setup.emulator.books
        books.script = Script("timeout", hold_s=5, after=after)
        k = Kiosk(setup, tmp_path / "kiosk.sqlite3", server)
        proc = _child("issue", setup.config, k.store)
        assert books.pay_seen.wait(30), proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)  # the pay call is still waiting for its answer
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        books.script = Script("success")
        state = k.restart()
        assert state is not None
        refunds, reversals = _calls(books, kind, "refund"), _calls(books, kind, "reverse")
        assert refunds + reversals <= 1  # never both
        if after == "paid":  # settled: booked once and refunded (the card was never made)
            _booked_once_and_refunded(k, state)
            assert refunds == 1
        else:  # never made at the provider: nothing taken, nothing booked
            (intent,) = state["intents"]
            assert intent["state"] == "failed" and refunds == reversals == 0
            assert state["payments"] == [] and state["outbox"] == [] and books.kept() == 0
        assert k.restart() == state and _calls(books, kind, "refund") == refunds

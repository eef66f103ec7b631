"""Crash drills of the payment lifecycle: a real kiosk process (``tests.support.pay_child``)
issues a card paid through the real WeChat Pay / Alipay adapter against the emulator and is
SIGKILLed at a step; a fresh process then recovers the open intents as ``kiosk run`` does.
Money is never kept without a record and never settled twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.pay_emulator_base import Books, Script
from tests.support.pay_setup import pay_setup

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


@pytest.fixture(params=["wechat", "alipay"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("kill", ["paid_mark", "card_write"])
def test_killed_after_the_provider_took_the_money_is_refunded_once(
        kind: str, kill: str, tmp_path: Path) -> None:
    with pay_setup(kind, tmp_path / "pay") as setup:
        store = tmp_path / "kiosk.sqlite3"
        code, _ = _run("issue", setup.config, store, "--kill", kill)
        assert code == -signal.SIGKILL
        books = setup.emulator.books
        assert books.kept() > 0 and len(books.trades) == 1  # taken, and we died
        _, after = _run("recover", setup.config, store)
        assert after is not None
        assert [i["state"] for i in after["intents"]] == ["refunded"]
        assert after["payments"] == [] and after["cards"] == 0  # the use case never committed
        assert books.kept() == 0 and _calls(books, kind, "refund") == 1
        assert _calls(books, kind, "reverse") == 0
        _, again = _run("recover", setup.config, store)  # a second start changes nothing
        assert again == after and _calls(books, kind, "refund") == 1


def test_killed_after_our_commit_is_booked_once_and_not_refunded(kind: str, tmp_path: Path) -> None:
    with pay_setup(kind, tmp_path / "pay") as setup:
        store = tmp_path / "kiosk.sqlite3"
        code, _ = _run("issue", setup.config, store, "--kill", "settled")
        assert code == -signal.SIGKILL
        _, after = _run("recover", setup.config, store)
        assert after is not None
        books = setup.emulator.books
        (intent,) = after["intents"]
        assert intent["state"] == "booked"
        assert [p["transaction_id"] for p in after["payments"]] == [intent["transaction_id"]]
        assert after["cards"] == 1 and books.kept() == after["payments"][0]["amount"]
        assert _calls(books, kind, "refund") == 0 and _calls(books, kind, "reverse") == 0


@pytest.mark.parametrize("after", ["paid", "none"])
def test_killed_before_the_provider_answered_is_settled_or_reversed_never_both(
        kind: str, after: str, tmp_path: Path) -> None:
    with pay_setup(kind, tmp_path / "pay", timeout_s=30) as setup:
        books = setup.emulator.books
        books.script = Script("timeout", hold_s=5, after=after)
        store = tmp_path / "kiosk.sqlite3"
        proc = _child("issue", setup.config, store)
        assert books.pay_seen.wait(30), proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)  # the pay call is still waiting for its answer
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        books.script = Script("success")
        _, state = _run("recover", setup.config, store)
        assert state is not None
        (intent,) = state["intents"]
        refunds, reversals = _calls(books, kind, "refund"), _calls(books, kind, "reverse")
        assert refunds + reversals <= 1  # never both
        assert books.kept() == 0 and state["payments"] == [] and state["cards"] == 0
        if after == "paid":
            assert intent["state"] == "refunded" and refunds == 1
        else:
            assert intent["state"] == "failed" and refunds == reversals == 0

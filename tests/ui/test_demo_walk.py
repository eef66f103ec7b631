"""``make demo``'s walk (``kiosk demo``), run as the README runs it: every flow in both
languages ends where it should, every receipt printed and was drawn.

A flow that stops is photographed as ``*-stopped`` and makes the command exit 1, so a screen change
that breaks the demo fails here, not in front of a newcomer."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.server_process import REPO

pytestmark = pytest.mark.ui

PYTHON = str(REPO / ".venv" / "bin" / "python")
# the last screenshot of each flow: reached only when the flow went all the way through
FLOW_ENDS = ("new-card-receipt", "renewal-receipt", "replacement-receipt", "fees-receipt",
             "returns-receipt", "visitor-pass", "staff-close-day")


@pytest.mark.timeout(1000)  # the walk (every flow, ID card and senior mode, twice) is long
def test_demo_walks_every_flow_in_both_languages(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # the demo makes its own screen
    res = subprocess.run([PYTHON, "-m", "kiosk.cli", "demo", "--output", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=950, env=env)
    assert res.returncode == 0, res.stderr[-3000:]

    shots = sorted(p.name for p in (out / "screens").glob("*.png"))
    assert not [s for s in shots if s.endswith("-stopped.png")]
    for lang in ("zh_CN", "en"):
        for end in FLOW_ENDS:
            assert any(s.startswith(f"{lang}-") and s.endswith(f"-{end}.png") for s in shots), \
                f"{lang}: no {end} screenshot"
    # the resident ID card's refusals and senior mode (长者模式), in both languages
    for lang in ("zh_CN", "en"):
        for end in ("new-card-identity", "id-card-expired", "id-card-guardian", "senior-home",
                    "senior-identity"):
            assert any(s.startswith(f"{lang}-") and s.endswith(f"-{end}.png") for s in shots), \
                f"{lang}: no {end} screenshot"
    assert any(s.startswith("zh_CN-") and s.endswith("-senior-receipt.png") for s in shots)
    with sqlite3.connect(out / "data" / "kiosk.db") as db:
        kinds = {k for (k,) in db.execute("SELECT kind FROM receipts")}
        unprinted = db.execute("SELECT count(*) FROM receipts WHERE print_status != 'printed'")
        assert unprinted.fetchone()[0] == 0
    assert {"new_card", "renewal", "replacement", "payment", "returns", "visitor_pass",
            "roster"} <= kinds
    previews = list((out / "receipts").glob("*.png"))
    assert len(previews) >= len(kinds)

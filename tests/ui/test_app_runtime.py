"""The production wiring runs: ``kiosk.app_runtime.run(config)`` is started in a subprocess with
a real config file (simulated devices, data in tmp, a record server URL nobody answers) under
Xvfb, and a reader walks one flow in it (a return). What a user would notice is asserted: the
item's title on screen, the receipt screen, the receipt printed and journaled, the strip saying
the server is offline; and the visit left open yesterday was closed at start-up by the system."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from kiosk.services.visitors import VisitorRequest
from library_core import i18n
from library_core.clock import CHINA_TZ, FixedClock
from server_client.store import Store
from tests.support.postgres import free_port
from tests.support.server_process import PYTHON, REPO
from tests.support.services import TEST_KEY, make_env
from tests.support.xvfb import xvfb_display  # noqa: F401

pytestmark = pytest.mark.ui


def _config(tmp_path: Path, data: Path) -> Path:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'[kiosk]\nid = "K01"\nkiosk_no = 1\nmode = "production"\nlanguage = "en"\n'
        f'data_dir = "{data}"\nwindow_size = [1280, 800]\n'
        '[card_reader]\ntype = "simulated"\n[scanner]\ntype = "simulated"\n'
        '[printer]\ntype = "simulated"\npaper_width_mm = 80\n'
        f'[server]\nurl = "https://127.0.0.1:{free_port()}"\nsync_interval_s = 1.0\n'
        f'[fees]\nfile = "{REPO}/config/fees.toml"\n', encoding="utf-8")
    return cfg


def test_run_from_a_config_file_walks_a_return(tmp_path: Path, xvfb_display: str) -> None:  # noqa: F811
    data = tmp_path / "data"
    now = dt.datetime.now(CHINA_TZ)
    # the kiosk's store as a previous day left it: a reader with an overdue loan, a visit
    # still open from yesterday (the kiosk was off at closing)
    noon_yesterday = dt.datetime.combine(now.date() - dt.timedelta(days=1), dt.time(12, 0),
                                         tzinfo=CHINA_TZ)  # open hours, whenever the test runs
    env = make_env(data / "kiosk.db", clock=FixedClock(noon_yesterday))
    reader_id = env.new_card(1).reader_id
    barcode = env.add_item(90001, title="The Walk Book")
    env.add_loan(reader_id, barcode, due_on=now.date() - dt.timedelta(days=3))
    visit = env.services.visitors.register(VisitorRequest(
        name="访客乙", phone="13900002222", purpose="meeting", host_department="office",
        consent=True)).visit
    env.store.close()

    result = tmp_path / "walk.json"
    proc = subprocess.run(
        [str(PYTHON), "-m", "tests.ui.kiosk_walk", str(_config(tmp_path, data)), str(result),
         barcode], cwd=REPO, capture_output=True, text=True, timeout=180,
        env={**os.environ, "DISPLAY": xvfb_display, "LIBRARY_KEY": TEST_KEY.decode(),
             "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1",
             "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1"})
    walked = json.loads(result.read_text(encoding="utf-8"))
    assert "error" not in walked, walked.get("error", "") + proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert walked["ok"] and walked["screen"] == "receipt"
    assert i18n.translate("home.returns", "en") in walked["home"]
    assert walked["server_state"] == "status.server.offline"  # nobody answers at that URL
    assert i18n.translate("status.server.offline", "en") in walked["home"]
    assert "The Walk Book" in walked["returns"]

    store = Store.open(data / "kiosk.db", kiosk_id="K01")
    try:
        loan = store.read_one("SELECT returned_at FROM loans WHERE item_barcode = ?", (barcode,))
        assert loan["returned_at"] is not None
        receipt = store.read_one("SELECT receipt_no, print_status FROM receipts"
                                 " WHERE kind = 'returns'")
        assert receipt["print_status"] == "printed"
        assert (data / "receipts" / f"{receipt['receipt_no']}.png").exists()
        closed = store.read_one("SELECT closed_how FROM visitors WHERE visit_id = ?",
                                (visit.visit_id,))
        assert closed["closed_how"] == "auto"
        audit = store.read_one("SELECT actor FROM audit_log WHERE action = 'visit.closed'"
                               " AND subject = ?", (visit.visit_id,))
        assert audit["actor"] == "system"
    finally:
        store.close()

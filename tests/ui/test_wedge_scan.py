"""A real keyboard-wedge scan: xdotool types an item barcode and Enter into the Kivy window under
Xvfb (real X key events through SDL), while the test pumps the Kivy event loop. The keystrokes
reach the returns screen as one scan and never land in the entry field on screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from library_core import i18n
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import add_item, add_loan, seed_reader

pytestmark = pytest.mark.ui


def _kivy_window_id() -> str:
    out = subprocess.run(["xdotool", "search", "--classname", "python3"], capture_output=True,
                         text=True, timeout=10, env=os.environ, check=False)
    ids = out.stdout.split()
    assert ids, f"no Kivy window on {os.environ.get('DISPLAY')}: {out.stderr}"
    return ids[-1]


def _type_into_window(d, text: str) -> None:  # noqa: ANN001
    """xdotool in a subprocess; the Kivy loop is pumped until it has finished and the scan
    has been handled (bounded by a generous deadline, not a timing assertion)."""
    window = _kivy_window_id()
    proc = subprocess.Popen(
        ["sh", "-c", f"xdotool windowfocus --sync {window} && xdotool type --delay 5 '{text}'"
                     " && xdotool key Return"],
        env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            d.step(system_events=True)
            time.sleep(0.001)
        for _ in range(20):  # the last keys and the scan they make
            d.step(system_events=True)
        d.pump()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_wedge_scan_typed_by_xdotool_reaches_returns_not_a_field(kiosk_ui) -> None:  # noqa: F811
    assert shutil.which("xdotool"), "xdotool is installed by the test set-up"
    d = kiosk_ui
    reader_id = seed_reader(d, b"\x04\xf6\x00\x01", name="郑和")
    first = add_item(d, "Wedge Scanned Book")
    second = add_item(d, "Second Wedge Book")
    add_loan(d, reader_id, first, days_late=-1)
    add_loan(d, reader_id, second, days_late=-1)

    # home screen: the typed barcode is a scan and opens returns with the item checked in
    _type_into_window(d, first)
    assert d.app.sm.current == "returns", d.app.toast
    assert i18n.translate("returns.line.ok", "zh_CN", title="Wedge Scanned Book") in d.texts()
    assert d.parts.store.read_one("SELECT returned_at FROM loans WHERE item_barcode = ?",
                                  (first,))["returned_at"] is not None
    d.press(key="nav.cancel")

    # a flow step with an entry field on screen (visitor's phone number): the scanner's
    # keystrokes do not type into it; the scan is handled as a scan
    d.press(key="home.visitor")
    d.type_pinyin("he", "何")
    d.press(key="nav.next")
    entry = d.app.screen.entry
    assert entry.value == ""
    _type_into_window(d, second)
    assert entry.value == ""
    assert d.app.toast == i18n.translate("scan.not_here", "zh_CN")
    # the same keystrokes on the home screen return the second item
    d.press(key="nav.cancel")
    _type_into_window(d, second)
    assert d.app.sm.current == "returns"
    assert [r.status for r in d.app.screen.results] == ["ok"]
    d.press(key="nav.cancel")

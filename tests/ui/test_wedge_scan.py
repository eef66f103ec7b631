"""A real keyboard-wedge scan: xdotool types an item barcode and Enter into the Kivy window under
Xvfb (real X key events through SDL), while the test pumps the Kivy event loop. The keystrokes
reach the returns screen as one scan and never land in the entry field on screen.

The keys come from xdotool, not a scanner's hardware: on a loaded machine its process can be
held between two keys well past the 40 ms that tells a scanner from a person (seen in a run
under load: a scan on the visitor step dropped). So the app's wedge here allows
``XDOTOOL_KEY_INTERVAL_MS`` between keys; every other part of the path (X, SDL, the window's
key handler, the wedge's burst, Enter and length rules, the screens) is the running app's. The
40 ms rule itself, stalls of the UI loop included, is tested in tests/unit/test_wedge_scanner.py."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from library_core import i18n
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import add_item, add_loan, seed_reader

pytestmark = pytest.mark.ui

XDOTOOL_KEY_INTERVAL_MS = 2000
Read = list[tuple[str, float, int]]


@pytest.fixture
def xdotool_wedge(kiosk_ui: Any) -> Iterator[tuple[Any, Read]]:  # noqa: F811
    """The running app's key input on a wedge scanner that allows xdotool's pace (see above);
    the app's own wedge is put back afterwards. Every key it reads is kept (key, time, frame)
    for a failure's message."""
    from devices.wedge_scanner import KeyboardWedgeScanner

    d = kiosk_ui
    wedge = KeyboardWedgeScanner(dataclasses.replace(
        d.parts.settings.scanner, max_key_interval_ms=XDOTOOL_KEY_INTERVAL_MS))
    unsubscribe = wedge.subscribe(d.app.bridge.deliver)
    wedge.start()
    read: Read = []

    def feed(key: str, ts: float, frame: int) -> None:
        read.append((key, ts, frame))
        wedge.feed_key(key, ts, frame)

    saved_sink, d.app.ctx.key_sink = d.app.ctx.key_sink, feed
    try:
        yield d, read
    finally:
        d.app.ctx.key_sink = saved_sink
        wedge.stop()
        unsubscribe()


def _timings(read: Read) -> str:
    keys = [f"{k!r} +{(ts - read[i - 1][1]) * 1000:.0f} ms f{frame}" if i else f"{k!r} f{frame}"
            for i, (k, ts, frame) in enumerate(read)]
    return ", ".join(keys[-30:])


def _kivy_window_id() -> str:
    out = subprocess.run(["xdotool", "search", "--classname", "python3"], capture_output=True,
                         text=True, timeout=10, env=os.environ, check=False)
    ids = out.stdout.split()
    assert ids, f"no Kivy window on {os.environ.get('DISPLAY')}: {out.stderr}"
    return ids[-1]


def _type_into_window(d, read: Read, text: str, done: Callable[[], bool], what: str) -> None:  # noqa: ANN001
    """One xdotool process types ``text`` and Enter as a fast scanner does, a key each
    millisecond (in CI a second xdotool process for the Enter started past the scanner's key
    interval, and the scan was rightly dropped). The Kivy loop is pumped meanwhile, then until
    ``done`` (bounded; not a timing assertion). A stall of the loop inside the scan (seen: 150 ms
    on the way home) must not split it: see ``KeyboardWedgeScanner``."""
    window = _kivy_window_id()
    # focus first, then one `xdotool key` types the characters (keysym names: letters and
    # digits) and Return (`type` would take "key Return" as more text, and chained after
    # windowfocus xdotool sends by XSendEvent, which SDL ignores)
    assert text.isalnum(), text
    keys = " ".join([*text, "Return"])
    proc = subprocess.Popen(
        ["sh", "-c", f"xdotool windowfocus --sync {window} && xdotool key --delay 1 {keys}"],
        env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            d.step(system_events=True)
            time.sleep(0.001)
        while not done() and time.monotonic() < deadline:  # the last keys and their scan
            d.step(system_events=True)
            time.sleep(0.005)
        d.pump()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert done(), f"{what}: not seen after typing {text!r}; screen {d.app.sm.current}," \
                   f" toast {d.app.toast!r}; keys read: {_timings(read)}"
    read.clear()


def test_wedge_scan_typed_by_xdotool_reaches_returns_not_a_field(xdotool_wedge: Any) -> None:
    assert shutil.which("xdotool"), "xdotool is installed by the test set-up"
    d, read = xdotool_wedge
    reader_id = seed_reader(d, b"\x04\xf6\x00\x01", name="郑和")
    first = add_item(d, "Wedge Scanned Book")
    second = add_item(d, "Second Wedge Book")
    add_loan(d, reader_id, first, days_late=-1)
    add_loan(d, reader_id, second, days_late=-1)

    # home screen: the typed barcode is a scan and opens returns with the item checked in
    _type_into_window(d, read, first, lambda: d.app.sm.current == "returns", "returns opened")
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
    not_here = i18n.translate("scan.not_here", "zh_CN")
    _type_into_window(d, read, second, lambda: d.app.toast == not_here, "the not-here message")
    assert entry.value == ""
    # the same keystrokes on the home screen return the second item
    d.press(key="nav.cancel")
    _type_into_window(d, read, second, lambda: d.app.sm.current == "returns", "returns opened")
    assert [r.status for r in d.app.screen.results] == ["ok"]
    d.press(key="nav.cancel")

"""Child process for benchmark 6 (Kivy builds once per process, so each figure gets a fresh one).

``python -m bench.kiosk_worker app OUT`` starts the kiosk app (simulated devices, demo config),
writes ``{"home_drawn": t}`` when the first frame with the home screen has been flipped, walks
every flow (mode ``app-start`` stops there) (``kiosk.demo.walk_through``), then writes ``{"rss_mb": ...}``.
``python -m bench.kiosk_worker bare OUT`` does the same for a bare Kivy app (one Label in the
CJK font): the baseline. Times are ``time.time()`` so the parent can subtract its spawn time.
DISPLAY must be set by the parent (an Xvfb it started).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import rss_mb

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")


def write(out: Path, data: dict[str, Any]) -> None:
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(data) + "\n")


def wait_first_flip(pump: Any, ready: Any) -> float:
    from kivy.core.window import Window

    flipped: list[float] = []

    def on_flip(*_a: Any) -> None:
        if not flipped and ready():
            flipped.append(time.time())

    Window.bind(on_flip=on_flip)
    deadline = time.monotonic() + 30
    while not flipped and time.monotonic() < deadline:
        pump()
    Window.unbind(on_flip=on_flip)
    return flipped[0] if flipped else float("nan")


def run_app(out: Path, walk: bool = True) -> None:
    from kivy.base import EventLoop

    from tests.support.kivy_app import make_parts, start_app

    data = Path(tempfile.mkdtemp(prefix="bench-kiosk-"))
    parts = make_parts(data)
    app = start_app(parts)
    drawn = wait_first_flip(EventLoop.idle, lambda: app.sm is not None and app.sm.current == "home")
    write(out, {"home_drawn": drawn, "rss_home_mb": rss_mb()})
    if not walk:
        app.stop()
        parts.store.close()
        return
    from kiosk.demo import walk_through
    from kiosk.ui.driver import UiDriver

    d = UiDriver(app, parts)
    d.pump(5)
    shots = data / "shots"
    shots.mkdir()
    made = walk_through(d, shots)
    write(out, {"rss_mb": rss_mb(), "screens": len(made)})
    from kivy.base import stopTouchApp

    app.stop()
    stopTouchApp()
    parts.store.close()


def run_bare(out: Path) -> None:
    from kivy.app import App
    from kivy.base import EventLoop
    from kivy.core.text import LabelBase
    from kivy.uix.label import Label

    LabelBase.register(name="cjk", fn_regular="/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

    class Bare(App):
        def build(self) -> Label:
            return Label(text="请刷读者证 Tap your card", font_name="cjk", font_size=48)

    app = Bare()
    app._run_prepare()
    drawn = wait_first_flip(EventLoop.idle, lambda: True)
    write(out, {"home_drawn": drawn, "rss_mb": rss_mb()})
    app.stop()


def main() -> int:
    mode, out = sys.argv[1], Path(sys.argv[2])
    modes = {"app": run_app, "app-start": lambda o: run_app(o, walk=False), "bare": run_bare}
    modes[mode](out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

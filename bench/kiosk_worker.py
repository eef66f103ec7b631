"""Child process for benchmark 6 (Kivy builds once per process, so each figure gets a fresh one).

``python -m bench.kiosk_worker app OUT`` starts the kiosk app (simulated devices, demo config),
writes ``{"home_drawn": t}`` when the first frame with the home screen has been flipped, walks
every flow (mode ``app-start`` stops there) (``kiosk.demo.walk_through``, its screenshots
replaced by a drawn frame: a reader's walk, not the demo's), waits 1 s at home as an idle kiosk does, then writes ``{"rss_mb": ...}`` with
a breakdown of resident memory by kind.
``python -m bench.kiosk_worker bare OUT`` does the same for a bare Kivy app (one Label in the
CJK font): the baseline. Times are ``time.time()`` so the parent can subtract its spawn time.
DISPLAY must be set by the parent (an Xvfb it started).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

from bench.common import rss_mb

log = logging.getLogger(__name__)

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")


SETTLE_S = 1.0  # at home after the walk, before the RSS figure


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


def memory_breakdown() -> dict[str, float]:
    """Resident MB by kind (/proc/self/smaps): anonymous heap, Mesa/LLVM and other libraries,
    and the Python objects tracemalloc would see (sys.getallocatedblocks is cheap, not MB)."""
    kinds: dict[str, float] = {}
    name = "[anon]"
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                name = parts[5] if len(parts) > 5 else "[anon]"
            elif parts and parts[0] == "Rss:":
                kb = int(parts[1])
                if "LLVM" in name or "dri" in name or "mesa" in name.lower() or "libGL" in name:
                    key = "mesa/llvm"
                elif name.startswith("/") and ".so" in name:
                    key = "other libs"
                elif name in ("[anon]", "[heap]"):
                    key = "anon heap"
                elif name.startswith("/"):
                    key = "files (fonts, data)"
                else:
                    key = name
                kinds[key] = kinds.get(key, 0.0) + kb / 1024
    return {k: round(v, 1) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:6]}


def heap_breakdown() -> dict[str, float]:
    """The anonymous heap split (MB): Python's object arenas (pymalloc: allocated, live blocks)
    and glibc's heap (in use, free kept, big blocks mmapped), from ``sys._debugmallocstats``
    and ``mallinfo2``. Empty where either is missing."""
    import ctypes
    import re

    out: dict[str, float] = {}
    read_fd, write_fd = os.pipe()
    saved = os.dup(2)
    try:
        os.dup2(write_fd, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(write_fd)
        os.close(saved)
    with os.fdopen(read_fd, encoding="utf-8", errors="replace") as f:
        text = f.read()
    arenas = re.search(r"arenas \* \d+ bytes/arena\s+=\s+([\d,]+)", text)
    live = re.search(r"# bytes in allocated blocks\s+=\s+([\d,]+)", text)
    if arenas and live:
        out["python arenas"] = int(arenas.group(1).replace(",", "")) / 2**20
        out["python live"] = int(live.group(1).replace(",", "")) / 2**20

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {k: round(v, 1) for k, v in out.items()}
    mallinfo2.restype = MallInfo2
    mi = mallinfo2()
    out["C heap in use"] = mi.uordblks / 2**20
    out["C heap free kept"] = mi.fordblks / 2**20
    out["C big blocks (mmap)"] = mi.hblkhd / 2**20
    return {k: round(v, 1) for k, v in out.items()}


def make_store(data: Path) -> Path:
    """A kiosk store holding the demo profile (``server_client.demo_data``), made by the parent
    before the kiosk starts: a kiosk finds its replica in its store (pulled, PINs hashed
    already); generating it, with its scrypt hashes, is not the kiosk's memory or start time."""
    from config.settings import demo_settings_path, load_settings
    from library_core.i18n import compile_catalogs
    from server_client.demo_data import generate
    from server_client.store import Store

    # an installed kiosk ships its catalogs compiled (package data): a .po edited in this tree
    # would otherwise make the measured kiosk import Babel to compile it (2 MB, 15 modules)
    compile_catalogs()
    settings = load_settings(demo_settings_path(), env={})
    store = Store.open(data / "kiosk.db", kiosk_id=settings.kiosk.id)
    try:
        generate(store)
    finally:
        store.close()
    return data / "kiosk.db"


def kiosk_parts(data: Path) -> Any:
    """The kiosk's parts as ``kiosk.app_runtime.run`` makes them from the demo config, with
    simulated devices, a fixed clock and the store in ``data`` (``make_store``). Not
    tests/support: the figure is the kiosk's, not pytest's (importing it adds pytest, about
    9 MB). The simulated printer draws no PNG previews: a kiosk's printer prints, and the
    previews' PIL fonts are demo output like the screenshots."""
    import dataclasses
    import datetime as dt

    from config.settings import demo_settings_path, load_settings
    from devices.simulated_card_reader import SimulatedCardReader
    from devices.simulated_id_card_reader import SimulatedIdCardReader
    from devices.simulated_printer import SimulatedReceiptPrinter
    from devices.simulated_scanner import SimulatedScanner
    from devices.wedge_scanner import KeyboardWedgeScanner
    from kiosk.services.payment import SimulatedPaymentGateway
    from kiosk.ui.driver import FakeMonotonic
    from library_core.clock import FixedClock
    from server_client.store import Store

    settings = load_settings(demo_settings_path(), env={})
    settings = dataclasses.replace(settings, kiosk=dataclasses.replace(
        settings.kiosk, language="zh_CN", data_dir=str(data)))
    store = Store.open(data / "kiosk.db", kiosk_id=settings.kiosk.id)
    clock = FixedClock(dt.datetime(2026, 11, 24, 10, 0))
    return types.SimpleNamespace(
        settings=settings, store=store, clock=clock, id_card_reader=SimulatedIdCardReader(clock=clock),
        card_reader=SimulatedCardReader(settings.card_reader), scanner=SimulatedScanner(),
        printer=SimulatedReceiptPrinter(paper_width_mm=settings.printer.paper_width_mm),
        gateway=SimulatedPaymentGateway(), monotonic=FakeMonotonic(), data_dir=data,
        wedge=KeyboardWedgeScanner(settings.scanner))


def start_app(parts: Any) -> Any:
    """The kiosk app built as ``kiosk.app_runtime.run`` builds it, window 1280x800."""
    from kivy.config import Config

    Config.set("graphics", "width", "1280")
    Config.set("graphics", "height", "800")
    from kiosk.app_runtime import build_app

    app = build_app(parts.settings, store=parts.store, clock=parts.clock,
                    card_reader=parts.card_reader, scanner=parts.scanner, printer=parts.printer,
                    gateway=parts.gateway, monotonic=parts.monotonic,
                    sync_status=lambda: None, wedge=parts.wedge,
                    staff_authority=staff_authority(parts.settings),
                    id_card_reader=parts.id_card_reader)
    app._run_prepare()
    return app


def staff_authority(settings: Any) -> Any:
    """Staff log-ins checked by the record server that ``bench.start`` runs for the walk
    (``BENCH_RECORD_SERVER``, ``BENCH_KIOSK_TOKEN``); None without one (no staff log-in)."""
    url, token = os.environ.get("BENCH_RECORD_SERVER"), os.environ.get("BENCH_KIOSK_TOKEN")
    if not url or not token:
        return None
    from kiosk.services.staff_auth import ServerStaffAuthority
    from server_client.sync import RecordServerClient

    return ServerStaffAuthority(RecordServerClient(url, settings.kiosk.id, token, retries=0))


class FlowErrors(logging.Handler):
    """Counts the walk's flows that stopped (``kiosk.demo`` logs each at ERROR)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.stopped: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.stopped.append(record.getMessage())


def run_app(out: Path, walk: bool = True) -> None:
    from kivy.base import EventLoop

    parts = kiosk_parts(out.parent / "store")
    data = parts.data_dir
    app = start_app(parts)
    drawn = wait_first_flip(EventLoop.idle, lambda: app.sm is not None and app.sm.current == "home")
    write(out, {"home_drawn": drawn, "rss_home_mb": rss_mb(), "home_kinds": memory_breakdown()})
    if not walk:
        app.stop()
        parts.store.close()
        return
    from kiosk.demo import walk_through
    from kiosk.ui.driver import UiDriver

    class ReaderDriver(UiDriver):
        """Walks the flows as a reader does: the demo's screenshots are only a frame drawn."""

        def screenshot(self, path: Path) -> Path:
            self.pump()
            return path

    d = ReaderDriver(app, parts)
    d.pump(5)
    errors = FlowErrors()
    logging.getLogger("kiosk.demo").addHandler(errors)
    # the store, clock and settings as the demo passes them: its returns then return the demo's
    # overdue loans and one of the new reader's, 12 days late, whose fine the fees flow pays
    # (without them the new reader has no fee, the fees screen says so and the walk stops there)
    made = walk_through(d, data / "shots", parts.store, parts.clock, parts.settings)
    import gc

    # the walk ends with the idle wipe; the kiosk then waits at home: let it settle for a
    # second (it drops the screens the next session does not need and trims the heap)
    settle = time.monotonic() + SETTLE_S
    while time.monotonic() < settle:
        EventLoop.idle()
    gc.collect()
    write(out, {"rss_mb": rss_mb(), "screens": len(made), "kinds": memory_breakdown(),
                "heap": heap_breakdown(), "modules": len(sys.modules),
                "stopped": errors.stopped})
    import ctypes

    # diagnostic, after the figure: how much of the heap is freed memory glibc keeps
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    write(out, {"rss_after_trim_mb": rss_mb(), "screens_alive": len(app.sm.screens)})
    import tracemalloc

    if tracemalloc.is_tracing():  # PYTHONTRACEMALLOC=1: where the Python heap went
        stats = tracemalloc.take_snapshot().statistics("filename")[:15]
        write(out, {"top": [f"{st.size / 2**20:.1f} MB {st.traceback}" for st in stats]})
        log.info("tracemalloc top:\n%s", "\n".join(
            f"{st.size / 2**20:6.1f} MB {st.traceback}" for st in stats))
    from kivy.base import stopTouchApp

    app.stop()
    stopTouchApp()
    parts.store.close()


def run_bare(out: Path) -> None:
    from kivy.config import Config

    Config.set("graphics", "width", "1280")  # the kiosk's window: frame buffers cost the same
    Config.set("graphics", "height", "800")
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
    write(out, {"home_drawn": drawn, "rss_mb": rss_mb(), "kinds": memory_breakdown(),
                "heap": heap_breakdown(), "modules": len(sys.modules)})
    app.stop()


def main() -> int:
    mode, out = sys.argv[1], Path(sys.argv[2])
    modes = {"app": run_app, "app-start": lambda o: run_app(o, walk=False), "bare": run_bare,
             "store": lambda o: make_store(o.parent / "store")}
    modes[mode](out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

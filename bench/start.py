"""6. Kiosk cold start and size.

Cold start: from spawning ``python`` (a fresh process, as systemd starts the kiosk) to the first
frame flipped on screen with the home screen current; simulated devices, demo config, a new
store, under Xvfb. Target <= 3 s. Resident memory: RSS of that process after walking every flow
in both languages (``kiosk.demo.walk_through``: new card, renewal, replacement, fees, returns,
visitor, staff, idle wipe) the way a reader does: the demo's screenshots are replaced by a drawn
frame (saving 64 window PNGs grew the heap and is not what a kiosk does), and its simulated
printer draws no PNG previews. The kiosk's store holds the demo profile, made before the kiosk
starts (a kiosk finds its replica in its store). The kiosk process imports no test code.
Target <= bare Kivy + 60 MB, measured in the same run.
Baseline: a bare Kivy app (one Label in the same CJK font) in a fresh process: its time to the
first frame and its RSS then. Median of 3 cold starts each; the first app run also walks.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result

RUNS = 3
START_TARGET_S = 3.0
RSS_EXTRA_MB = 60.0  # over bare Kivy


def _staff_server(tmp: Path) -> tuple[Any, str]:
    """A record server for the walk's staff log-in (the server checks staff PINs; the kiosk
    holds no PIN hash): the demo profile's staff, kiosk K01 enrolled; (server, kiosk token)."""
    from tests.support.server_process import ServerProcess

    server = ServerProcess(tmp / "server")
    server.cli("migrate")
    server.create_staff("S0001", role="desk", pin="246810", name="王芳")
    server.create_staff("S0002", role="supervisor", pin="135790", name="李强")
    server.start()
    return server, server.enroll("K01")


def spawn(mode: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        out = Path(tmp) / "out.jsonl"
        if mode != "bare":  # the kiosk's store (its replica) exists before the kiosk starts
            (Path(tmp) / "store").mkdir()
            subprocess.run([sys.executable, "-m", "bench.kiosk_worker", "store", str(out)],
                           cwd=ROOT, check=True, timeout=300, stdout=subprocess.DEVNULL)
        server = _staff_server(Path(tmp)) if mode == "app" else None
        extra = {} if server is None else {"BENCH_RECORD_SERVER": server[0].url,
                                           "BENCH_KIOSK_TOKEN": server[1]}
        t0 = time.time()
        try:
            subprocess.run([sys.executable, "-m", "bench.kiosk_worker", mode, str(out)],
                           cwd=ROOT, env={**os.environ, "KIVY_HOME": tmp, **extra}, check=True,
                           timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            if server is not None:
                server[0].kill()
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    rows[0]["start_s"] = rows[0]["home_drawn"] - t0
    return rows


def run() -> list[Result]:
    from kiosk.ui.display import virtual_display

    with virtual_display():
        apps = [spawn("app")] + [spawn("app-start") for _ in range(RUNS - 1)]
        bares = [spawn("bare") for _ in range(RUNS)]
    start = statistics.median(r[0]["start_s"] for r in apps)
    base_start = statistics.median(r[0]["start_s"] for r in bares)
    base_rss = max(r[-1]["rss_mb"] for r in bares)
    app_starts = ", ".join(f"{r[0]['start_s']:.2f}" for r in apps)
    bare_starts = ", ".join(f"{r[0]['start_s']:.2f}" for r in bares)
    walked = next(r for r in apps[0] if "rss_mb" in r)
    rss = walked["rss_mb"]
    extra = next((r for r in apps[0] if "rss_after_trim_mb" in r), {})
    notes = [f"cold starts: {app_starts} s; bare Kivy {bare_starts} s",
             f"RSS at home {apps[0][0]['rss_home_mb']:.0f} MB, after the walk "
             f"({walked.get('screens', 0)} steps, no screenshots) {rss:.0f} MB",
             f"after the walk by kind (MB): {walked.get('kinds')}; bare Kivy: "
             f"{bares[0][-1].get('kinds')}",
             f"anon heap split (MB): kiosk {walked.get('heap')}, {walked.get('modules')} modules;"
             f" bare Kivy {bares[0][-1].get('heap')}, {bares[0][-1].get('modules')} modules",
             f"diagnostic: {extra.get('screens_alive', '?')} screens kept alive; malloc_trim "
             f"would give back {rss - extra.get('rss_after_trim_mb', rss):.0f} MB"]
    stopped = walked.get("stopped", [])
    if stopped:
        notes.append(f"the walk did not finish every flow: {'; '.join(stopped)}")
    return [
        Result("6 kiosk start", "cold start to home drawn", start, "s",
               baseline_name="bare Kivy label", baseline=base_start,
               target=f"<= {START_TARGET_S:.0f} s", met=start <= START_TARGET_S, notes=notes),
        Result("6 kiosk size", "RSS after every flow", rss, "MB",
               baseline_name="bare Kivy label", baseline=base_rss,
               target=f"<= bare+{RSS_EXTRA_MB:.0f} MB", met=rss <= base_rss + RSS_EXTRA_MB),
    ]

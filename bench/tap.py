"""1. Card tap to reader screen, through the real pcscd.

A ``VirtualCard`` subclass (tests/support/virtual_card.py) stamps the moment pcscd powers it on
(vpcd control code 1, the first after each insertion): the card has reached the reader. The
kiosk app runs under Xvfb in a child process (``bench/tap_worker.py app``) with the real
``PcscCardReader`` on "Virtual PCD 00 00" and a store holding the card's reader (issued through
the card service; its token is written onto the virtual card). Measured per tap: power-on to the
first ``Window.on_flip`` after the renewal screen lists the reader's masked name. ``TAPS`` taps
(card on, screen drawn, card off, home), p50 and p95.

Baseline, the floor, measured in the same run: per tap, a bare pyscard ``CardMonitor`` script in
a child process (``tap_worker bare``) that waits for the same insertion and reads the UID
(``FF CA 00 00 00``) and the token sector (``FF 82`` / ``FF 86`` / ``FF B0`` x3), power-on to
its last answer; plus a bare Kivy app (``tap_worker kivy``, plain Label/Button, same window,
font and frame cap) drawing the labels and buttons of the same account screen (dumped by the
app worker after its first tap) once, from a clock callback to its flip. Floor of tap i = read
i + draw i; its p95 is the baseline. Target: p95 <= 2x the floor's p95.
pcscd: ``tests.support.pcscd.PcscDaemon`` (uses a running one or starts and stops its own),
holding ``/tmp/library-kiosk-pcscd.lock`` like the test fixture, so a test session using the
virtual reader and this benchmark take turns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result, percentile

log = logging.getLogger(__name__)

TAPS = 20
LOCK_WAIT_S = 600.0
STEP_LIMIT_S = 60.0
RATIO = 2.0


@contextlib.contextmanager
def pcscd_held(log_dir: Path) -> Iterator[Any]:
    """pcscd with the virtual reader, under the same lock file as the test fixture."""
    from tests.support.pcscd import held_pcscd

    with held_pcscd(log_dir, lock_timeout_s=LOCK_WAIT_S) as daemon:
        yield daemon


def stamping_card(uid: bytes, key_a: bytes, key_b: bytes, sector: int) -> Any:
    from tests.support.virtual_card import VirtualCard

    class StampingCard(VirtualCard):
        """Notes time.time() at the first power-on after each insert()."""

        def __init__(self) -> None:
            super().__init__(uid, sector=sector, key_a=key_a, key_b=key_b)
            self.powered: list[float] = []
            self._armed = False

        def insert(self, timeout: float = 10.0) -> None:
            self._armed = True
            super().insert(timeout)

        def _control(self, code: int) -> bytes | None:
            if code == 1 and self._armed:
                self._armed = False
                self.powered.append(time.time())
            return super()._control(code)

    return StampingCard()


class Child:
    """A worker process and the JSON lines it writes."""

    def __init__(self, mode: str, tmp: Path, env: dict[str, str], *extra: str) -> None:
        self.out = tmp / f"{mode}.jsonl"
        self.err = tmp / f"{mode}.err"
        self.out.touch()
        self.taken = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.tap_worker", mode, str(self.out), str(TAPS), *extra],
            cwd=ROOT,
            env=env, stdout=subprocess.DEVNULL, stderr=self.err.open("wb"))

    def wait_for(self, key: str, limit_s: float = STEP_LIMIT_S) -> dict[str, Any]:
        """The next line (after those already taken) holding ``key``."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            text = self.out.read_text(encoding="utf-8")
            lines = [json.loads(x) for x in text.splitlines() if x.strip()]
            for i in range(self.taken, len(lines)):
                if key in lines[i]:
                    self.taken = i + 1
                    return dict(lines[i])
            if self.proc.poll() is not None:
                tail = self.err.read_text(encoding="utf-8", errors="replace")[-600:]
                raise RuntimeError(f"tap worker exited with {self.proc.returncode} "
                                   f"waiting for {key!r}: ...{tail}")
            time.sleep(0.005)
        raise TimeoutError(f"tap worker: no {key!r} within {limit_s} s")

    def close(self) -> None:
        self.out.with_suffix(".stop").touch()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _median_ms(values: list[float]) -> float:
    return percentile(values, 50) if values else float("nan")


def draws(tmp: Path, env: dict[str, str], screen: Path) -> list[float]:
    """Bare Kivy drawing the dumped account screen TAPS times; ms from callback to flip."""
    child = Child("kivy", tmp, env, str(screen))
    try:
        child.wait_for("reader", 120)
        out = [float(child.wait_for("drawn")["drawn"]) for _ in range(TAPS)]
        log.info("bare Kivy draws (ms): %s", " ".join(f"{x:.1f}" for x in out))
        return out
    finally:
        child.close()


def taps(mode: str, tmp: Path, env: dict[str, str]) -> tuple[list[float], list[str]]:
    """Tap the card TAPS times on a fresh worker; power-on -> worker's mark, in ms."""
    from bench.tap_worker import UID, card_keys, reader_settings

    cfg = reader_settings()
    keys = card_keys()  # the card as issued: its own diversified keys
    card = stamping_card(UID, keys.key_a, keys.key_b, cfg.sector)
    child = Child(mode, tmp, env)
    notes: list[str] = []
    latencies: list[float] = []
    parts: dict[str, list[float]] = {"detect+UID": [], "to read thread": [], "token+lookup": [],
                                      "to screen drawn": [], "of which to Kivy thread": [],
                                      "screen built": [], "frame drawn": []}
    try:
        if mode == "app":
            token = bytes.fromhex(child.wait_for("token", 120)["token"])
            card.set_sector_data(cfg.sector, token)
        child.wait_for("reader", 120)
        time.sleep(0.5)  # let the monitor settle on an empty reader
        mark = "flip" if mode == "app" else "read"
        for n in range(TAPS):
            card.insert()
            got = child.wait_for(mark)
            if mode == "app" and n == 0:
                screen = child.wait_for("screen")["screen"]
                (tmp / "screen.json").write_text(json.dumps(screen), encoding="utf-8")
            if mode == "bare" and not got.get("ok"):
                notes.append(f"bare read {n} failed: {got}")
            powered = card.powered[-1]
            latencies.append((got[mark] - powered) * 1000)
            log.debug("%s tap %d: %.1f ms %s", mode, n, latencies[-1], got)
            if {"inserted", "read_start", "read_done"} <= got.keys():
                parts["detect+UID"].append((got["inserted"] - powered) * 1000)
                parts["to read thread"].append((got["read_start"] - got["inserted"]) * 1000)
                parts["token+lookup"].append((got["read_done"] - got["read_start"]) * 1000)
                parts["to screen drawn"].append((got["flip"] - got["read_done"]) * 1000)
            if {"read_done", "go_start", "go_done"} <= got.keys():
                parts["of which to Kivy thread"].append((got["go_start"] - got["read_done"]) * 1000)
                parts["screen built"].append((got["go_done"] - got["go_start"]) * 1000)
                parts["frame drawn"].append((got["flip"] - got["go_done"]) * 1000)
            card.remove()
            if mode == "app":
                child.wait_for("ready")
            else:
                time.sleep(0.3)  # removal seen by the monitor before the next tap
    finally:
        with contextlib.suppress(Exception):
            card.remove()
        child.close()
    if parts["detect+UID"]:
        notes.append("app medians: " + ", ".join(
            f"{k} {_median_ms(v):.1f} ms" for k, v in parts.items() if v))
    return latencies, notes


def run() -> list[Result]:
    from kiosk.ui.display import virtual_display

    with tempfile.TemporaryDirectory(prefix="bench-tap-") as tmp_name:
        tmp = Path(tmp_name)
        with pcscd_held(tmp), virtual_display():
            env = {**os.environ, "KIVY_HOME": str(tmp)}
            bare, bare_notes = taps("bare", tmp, env)
            app, app_notes = taps("app", tmp, env)
            drawn = draws(tmp, env, tmp / "screen.json")
            widgets = len(json.loads((tmp / "screen.json").read_text(encoding="utf-8")))
    floor = [r + d for r, d in zip(bare, drawn, strict=True)]
    p95, base95 = percentile(app, 95), percentile(floor, 95)
    notes = [f"{len(app)} taps: p50 {percentile(app, 50):.1f} ms, max {max(app):.1f} ms",
             f"floor p50 {percentile(floor, 50):.1f} ms = bare pyscard read p50 "
             f"{percentile(bare, 50):.1f} ms (p95 {percentile(bare, 95):.1f}, max {max(bare):.1f})"
             f" + bare Kivy drawing the account screen ({widgets} labels/buttons) p50 "
             f"{percentile(drawn, 50):.1f} ms (p95 {percentile(drawn, 95):.1f}, "
             f"max {max(drawn):.1f})",
             *bare_notes, *app_notes]
    complete = len(app) == len(bare) == len(drawn) == TAPS
    return [Result("1 card tap", "power-on -> screen drawn p95", p95, "ms",
                   baseline_name="floor: bare pyscard read + bare Kivy draw, p95",
                   baseline=base95, target=f"<= {RATIO:.0f}x floor",
                   met=complete and p95 <= RATIO * base95, notes=notes, valid=complete)]


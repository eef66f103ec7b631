"""1. Card tap to reader screen, through the real pcscd: NOT BUILT YET.

Planned measurement: a ``VirtualCard`` subclass (tests/support/virtual_card.py) stamps the time
pcscd powers it on (vpcd control code 1); the kiosk app runs under Xvfb in a child process with
``PcscCardReader`` on "Virtual PCD 00 00" and a store holding the card's reader; the child stamps
the first ``Window.on_flip`` after the renewal screen lists the reader's masked name. Baseline: a
bare pyscard CardMonitor script that waits for the same insertion and reads the UID
(``FF CA 00 00 00``) and the token sector (``FF 82`` / ``FF 86`` / ``FF B0``).
Target: p95 <= 150 ms above the baseline and <= 1.5x it.
"""

from __future__ import annotations

from bench.common import Result


def run() -> list[Result]:
    return [Result("1 card tap", "not measured yet", float("nan"), "ms",
                   target="p95 <= base+150 ms, <= 1.5x", met=None,
                   notes=["benchmark not built yet (see bench/tap.py docstring for the plan)"])]

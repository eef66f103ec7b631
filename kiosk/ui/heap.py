"""Collecting a flow's dropped steps while the flow runs."""

from __future__ import annotations

import gc
from typing import Any

from kivy.clock import Clock

# A step's widgets hold reference cycles, so they wait for a full collection once dropped, which
# the automatic ones seldom reach: a flow's dropped steps piled up until it ended (8 MB in the
# visitor flow), in Python arenas that then stayed. One collection (about 20 ms) this long after
# a step is shown, once the step is drawn and while its data arrives (bench 6: -5 to -9 MB).
STEP_COLLECT_DELAY_S = 0.3
_collect_after_step: list[Any] = []  # the Kivy trigger, made on first use


def collect_after_step() -> None:
    """A full collection ``STEP_COLLECT_DELAY_S`` after the last step shown (steps shown
    sooner one after the other get one collection, after the last)."""
    if not _collect_after_step:
        _collect_after_step.append(Clock.create_trigger(lambda _dt: gc.collect(),
                                                        STEP_COLLECT_DELAY_S))
    trigger = _collect_after_step[0]
    trigger.cancel()
    trigger()

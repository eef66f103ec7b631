"""A flow's dropped steps are freed while the flow runs (``kiosk.ui.heap``): a step's widgets
hold reference cycles, which wait for a full collection; with the automatic collections off,
only the one the screen asks for after each step can free them."""

from __future__ import annotations

import gc
import weakref

import pytest

from kiosk.ui.widgets import NameEntry
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.xvfb import xvfb_display  # noqa: F401

pytestmark = pytest.mark.ui


def test_the_name_step_is_freed_while_the_visitor_flow_runs(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    d.press(key="home.visitor")
    entry = next(w for w in d.app.screen.ids.body.walk() if isinstance(w, NameEntry))
    name_step = [weakref.ref(w) for w in entry.walk(restrict=True)]  # the name entry and its keyboard
    assert len(name_step) > 20
    del entry
    gc.collect()
    gc.disable()
    try:
        d.type_pinyin("li", "李")
        d.press(key="nav.next")
        d.type_digits("13700001111")
        d.press(key="nav.next")
        assert d.app.screen.step == 2  # the optional ID number: two steps after the name
        d.pump_until(lambda: all(ref() is None for ref in name_step),
                     "the name step's widgets freed")
    finally:
        gc.enable()

"""A virtual screen for UI tests: ``xvfb_display`` starts Xvfb on a free display when DISPLAY is
unset (``-screen 0 1920x1080x24``, no TCP) and stops it afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kiosk.ui.display import virtual_display


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    with virtual_display() as display:
        yield display

"""Test-wide settings. Real parts (pcscd, Xvfb, printer socket, server, PostgreSQL) are started
by the fixtures in tests/support/, which the test modules import; nothing is skipped for want
of a part."""

from __future__ import annotations

import os
import tempfile

# Kivy reads these at import: keep it out of ~/.kivy, quiet, and off the command line.
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
# Kivy's SDL2 audio loads and plays voice prompts without a sound card (tests/ui/test_voice_player.py)
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
# the record server stores PIN hashes of at least this scrypt cost: tests hash cheaply (the
# server's own default, PIN_HASH_MIN_N, is what a real deployment gets)
os.environ.setdefault("RECORD_SERVER_PIN_MIN_N", "16")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ``make test`` runs the kiosk side in two processes at once, split by these markers (``-m "ui or
# pcsc"`` and its complement): the tests on the one virtual card reader (pcscd's lock is held for a
# whole session) and on this process's Kivy window must be together. A test that reaches them
# through a fixture is marked here, so one that forgot its marker cannot land in the other half.
_NEEDS = {"pcscd": "pcsc", "kiosk_session": "ui", "kiosk_ui": "ui", "xvfb_display": "ui"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            if fixture in _NEEDS:
                item.add_marker(_NEEDS[fixture])

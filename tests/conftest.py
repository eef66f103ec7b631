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

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

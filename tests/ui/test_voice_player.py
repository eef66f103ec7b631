"""The Kivy voice player under Xvfb with SDL's dummy audio driver: a rendered prompt (real
espeak-ng) loads through SoundLoader and plays; a missing or broken prompt is silence and a
warning, never an error."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # before Kivy opens audio (tests/conftest.py too)

from config.voice import VoiceSection  # noqa: E402
from devices.voice import SilentVoicePlayer, VoicePlayer, prompt_path  # noqa: E402
from devices.voice_render import render_prompts  # noqa: E402
from kiosk.ui.sound_player import KivyVoicePlayer, build_voice_player  # noqa: E402
from tests.support.xvfb import xvfb_display  # noqa: F401, E402

PROMPTS = ("id_card.prompt.place", "card.removed")


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("voice")
    render_prompts(out, prompts=PROMPTS)
    return out


@pytest.fixture
def player(xvfb_display: str, audio_dir: Path) -> Iterator[KivyVoicePlayer]:  # noqa: F811
    assert os.environ["SDL_AUDIODRIVER"] == "dummy"
    p = KivyVoicePlayer(audio_dir, volume=0.6)
    yield p
    p.stop()


def test_a_rendered_prompt_loads_and_plays(player: KivyVoicePlayer, audio_dir: Path) -> None:
    assert isinstance(player, VoicePlayer)
    assert player.play("id_card.prompt.place", "zh_CN")
    sound = player.current
    assert type(sound).__name__ == "SoundSDL2"
    assert sound.source == str(prompt_path(audio_dir, "zh_CN", "id_card.prompt.place"))
    assert sound.state == "play" and sound.length > 0.5
    assert sound.volume == pytest.approx(0.6)
    assert player.play("card.removed", "en")  # the next prompt stops the first
    assert sound.state == "stop" and player.current.state == "play"
    assert player.played == [("id_card.prompt.place", "zh_CN"), ("card.removed", "en")]


def test_a_missing_or_broken_prompt_is_a_warning_and_silence(
    player: KivyVoicePlayer, audio_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = prompt_path(audio_dir, "en", "home.welcome")
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with caplog.at_level(logging.WARNING):
        assert not player.play("card.tap", "zh_CN")  # in the table, never rendered here
        assert not player.play("home.welcome", "en")  # a file SDL cannot read
        assert not player.play("no.such.prompt", "en")
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "no rendered file" in messages and "could not load" in messages
    assert "not in the prompt table" in messages
    assert player.played == []


def test_staff_mode_mutes_and_config_can_switch_voice_off(player: KivyVoicePlayer, audio_dir: Path) -> None:
    player.muted = True
    assert not player.play("card.removed", "zh_CN") and player.current is None
    off = build_voice_player(VoiceSection(enabled=False, dir=str(audio_dir)))
    assert isinstance(off, SilentVoicePlayer) and not off.play("card.removed", "zh_CN")
    on = build_voice_player(VoiceSection(volume=0.3, dir=str(audio_dir)))
    assert isinstance(on, KivyVoicePlayer) and on.volume == pytest.approx(0.3)

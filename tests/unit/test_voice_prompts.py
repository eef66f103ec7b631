"""The voice prompt table against the catalogs, and the player's fallbacks (no audio device)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from devices.voice import PROMPTS, VOICES, SilentVoicePlayer, VoicePlayer, prompt_path
from devices.voice_render import RenderError, prompt_text


@pytest.mark.parametrize("language", list(VOICES))
def test_every_prompt_has_text_without_fields_in_both_languages(language: str) -> None:
    texts = {prompt_id: prompt_text(prompt_id, language) for prompt_id in PROMPTS}
    assert len(texts) == len(PROMPTS) == len(set(PROMPTS))
    assert all(text and text != prompt_id for prompt_id, text in texts.items())
    if language == "zh_CN":
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in texts.values())


def test_a_prompt_with_fields_or_no_text_is_refused() -> None:
    with pytest.raises(RenderError, match="fields"):
        prompt_text("idle.countdown", "en")
    with pytest.raises(RenderError, match="no en text"):
        prompt_text("no.such.message", "en")


def _player(tmp_path: Path) -> SilentVoicePlayer:
    path = prompt_path(tmp_path, "en", "card.tap")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"RIFF")
    return SilentVoicePlayer(tmp_path, volume=3.0)


def test_a_rendered_prompt_plays_and_is_recorded(tmp_path: Path) -> None:
    player = _player(tmp_path)
    assert isinstance(player, VoicePlayer)
    assert player.volume == 1.0  # clamped
    assert player.play("card.tap", "en")
    assert player.played == [("card.tap", "en")]


def test_a_missing_file_is_silence_and_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    player = _player(tmp_path)
    with caplog.at_level(logging.WARNING, logger="devices.voice"):
        assert not player.play("card.tap", "zh_CN")
        assert not player.play("card.tap", "zh_CN")
        assert not player.play("not.a.prompt", "en")
    warnings = [r.getMessage() for r in caplog.records]
    assert len([w for w in warnings if "no rendered file" in w]) == 1
    assert any("not in the prompt table" in w for w in warnings)
    assert player.played == []


def test_muted_and_disabled_players_stay_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    player = _player(tmp_path)
    player.muted = True  # staff mode
    assert not player.play("card.tap", "en")
    player.muted = False
    assert player.play("card.tap", "en")
    off = SilentVoicePlayer(tmp_path, enabled=False)
    with caplog.at_level(logging.WARNING):
        assert not off.play("card.tap", "zh_CN")
    assert not caplog.records and off.played == []

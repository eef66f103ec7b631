"""Rendering the voice prompts with the real espeak-ng (Mandarin and English), and re-runs."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from devices.voice import prompt_path
from devices.voice_render import MANIFEST, RenderError, render_prompts

SOME = ("id_card.prompt.place", "id_card.removed")


def test_prompts_render_to_wav_in_both_languages_and_a_rerun_skips(tmp_path: Path) -> None:
    written = render_prompts(tmp_path, prompts=SOME)
    assert len(written) == 4
    for language in ("zh_CN", "en"):
        for prompt_id in SOME:
            with wave.open(str(prompt_path(tmp_path, language, prompt_id))) as wav:
                assert wav.getnframes() / wav.getframerate() > 0.5  # speech, not an empty file
    zh = prompt_path(tmp_path, "zh_CN", SOME[0]).read_bytes()
    en = prompt_path(tmp_path, "en", SOME[0]).read_bytes()
    assert zh != en
    assert render_prompts(tmp_path, prompts=SOME) == []  # a second run renders nothing
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_changed_text_or_a_lost_file_is_rendered_again(tmp_path: Path) -> None:
    render_prompts(tmp_path, prompts=SOME)
    manifest_path = tmp_path / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["en/id_card.removed"] = "an older text"
    manifest_path.write_text(json.dumps(manifest))
    prompt_path(tmp_path, "zh_CN", SOME[0]).unlink()
    again = render_prompts(tmp_path, prompts=SOME)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in again) == [
        "en/id_card.removed.wav", "zh_CN/id_card.prompt.place.wav"]


def test_no_espeak_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="not installed"):
        render_prompts(tmp_path, prompts=SOME, espeak="espeak-ng-missing")

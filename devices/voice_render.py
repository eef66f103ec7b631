"""Render the voice prompts with espeak-ng at set-up: ``python -m devices.voice_render [DIR]``.

Each prompt of ``devices.voice.PROMPTS`` in each language of ``VOICES`` becomes
``DIR/<language>/<prompt id>.wav`` (default DIR ``build/voice``, gitignored), from the
catalog's text. ``DIR/manifest.json`` records a hash of what each file was made from (voice,
speed, text): a second run renders only the prompts whose text changed or whose file is
missing. Files are written to a temporary name and renamed, so a killed run leaves no half file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from devices.voice import PROMPTS, SPEED_WPM, VOICES, prompt_path
from library_core.i18n import has_message, translate

log = logging.getLogger(__name__)

DEFAULT_DIR = Path("build/voice")
MANIFEST = "manifest.json"
ESPEAK_TIMEOUT_S = 30.0


class RenderError(Exception):
    """espeak-ng is missing or failed, or a prompt has no text to speak."""


def prompt_text(prompt_id: str, language: str) -> str:
    """The catalog's text for ``prompt_id``. Raises RenderError if it has none or has fields."""
    if not has_message(prompt_id, language):
        raise RenderError(f"{prompt_id} has no {language} text in the catalogs")
    text = translate(prompt_id, language)
    if "{" in text:
        raise RenderError(f"{prompt_id} ({language}) has fields; a prompt is rendered once")
    return text


def _stamp(voice: str, text: str) -> str:
    return hashlib.sha256(f"{voice}|{SPEED_WPM}|{text}".encode()).hexdigest()[:16]


def render_prompts(
    audio_dir: Path | str = DEFAULT_DIR, *, prompts: Sequence[str] = PROMPTS,
    languages: Sequence[str] = tuple(VOICES), espeak: str = "espeak-ng",
) -> list[Path]:
    """Render what is missing or changed; returns the files written. Raises RenderError."""
    audio_dir = Path(audio_dir)
    exe = shutil.which(espeak)
    if exe is None:
        raise RenderError(f"{espeak} is not installed (scripts/setup.sh installs espeak-ng)")
    manifest_path = audio_dir / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    written: list[Path] = []
    try:
        for language in languages:
            voice = VOICES[language]
            for prompt_id in prompts:
                text = prompt_text(prompt_id, language)
                path = prompt_path(audio_dir, language, prompt_id)
                key, stamp = f"{language}/{prompt_id}", _stamp(voice, text)
                if path.is_file() and manifest.get(key) == stamp:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".wav.tmp")
                try:
                    subprocess.run([exe, "-v", voice, "-s", str(SPEED_WPM), "-w", str(tmp), text],
                                   check=True, capture_output=True, timeout=ESPEAK_TIMEOUT_S)
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
                    tmp.unlink(missing_ok=True)
                    raise RenderError(f"espeak-ng failed on {key}: {err}") from err
                os.replace(tmp, path)
                manifest[key] = stamp
                written.append(path)
    finally:
        if written:
            audio_dir.mkdir(parents=True, exist_ok=True)
            tmp_manifest = manifest_path.with_suffix(".json.tmp")
            tmp_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp_manifest, manifest_path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default=str(DEFAULT_DIR), help="where the prompts go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = render_prompts(args.dir)
    except RenderError as err:
        log.error("voice prompts: %s", err)
        return 1
    total = len(PROMPTS) * len(VOICES)
    log.info("voice prompts: %d rendered, %d already there (%s)", len(written), total - len(written), args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

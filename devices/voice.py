"""Spoken guidance: the prompt table, where the rendered prompts live, and the player port.

A prompt id is a catalog message id (``id_card.prompt.place``, ``card.removed``): the spoken
text is the catalog's text in that language, so screens and voice never drift apart (one
source). ``PROMPTS`` lists the ids that are spoken; ``devices.voice_render`` turns each into
``<dir>/<language>/<prompt id>.wav`` with espeak-ng at set-up (Mandarin ``cmn``, English
``en``); the files are build output, kept out of git.

A player never raises and never blocks: ``play(prompt_id, language)`` starts the prompt (and
stops the one playing) and returns whether a sound started. A prompt with no rendered file,
not in the table, or while the player is muted or disabled is silence; a missing or unloadable
file is logged as a warning (once per file). ``muted`` is for staff mode (the UI sets it on
entering and clears it on leaving). ``played`` records what was asked and started, for tests
and diagnostics. ``SilentVoicePlayer`` plays nothing (voice off, tests without audio); the
Kivy player is ``kiosk.ui.sound_player.KivyVoicePlayer`` (SoundLoader).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

# language -> espeak-ng voice
VOICES: dict[str, str] = {"zh_CN": "cmn", "en": "en"}
SPEED_WPM = 150

PROMPTS: tuple[str, ...] = (
    # steps
    "home.welcome", "home.tap_card", "card.tap", "card.place_blank", "pay.scan_code",
    "returns.scan_prompt", "receipt.printed", "idle.title",
    "id_card.prompt.place", "id_card.prompt.hold", "id_card.prompt.take_away",
    # the card flows' steps by the ID card, and senior mode (kiosk.ui.screens: FlowScreen.say)
    "home.senior_welcome", "idcard.confirm_title", "field.category", "field.guardian_phone",
    "field.phone", "field.pin", "field.pin_new", "field.pin_again", "field.name",
    "summary.title", "idcard.expired", "idcard.not_yet_valid", "guardian.required",
    "category.age",
    # results
    "newcard.done", "renewal.done", "replace.done", "visitor.done", "newcard.exists",
    # refusals and device trouble
    "pin.mismatch", "renewal.refused", "error.generic", "card.removed", "card.error",
    "card.reader_unavailable", "id_card.no_card", "id_card.removed", "id_card.read_failed",
    "id_card.select_failed", "id_card.timeout", "id_card.checksum", "id_card.truncated",
    "id_card.bad_frame", "id_card.reader_unavailable", "id_card.bad_data",
    "id_card.bad_id_number",
)


def prompt_path(audio_dir: Path | str, language: str, prompt_id: str) -> Path:
    """Where the rendered prompt lives: ``<audio_dir>/<language>/<prompt_id>.wav``."""
    return Path(audio_dir) / language / f"{prompt_id}.wav"


@runtime_checkable
class VoicePlayer(Protocol):
    """Plays rendered prompts (see the module docstring); never raises."""

    muted: bool
    played: list[tuple[str, str]]

    @property
    def volume(self) -> float: ...

    def set_volume(self, volume: float) -> None:
        """0.0 to 1.0 (clamped)."""
        ...

    def play(self, prompt_id: str, language: str) -> bool:
        """Start ``prompt_id`` in ``language``; False (and silence) when it cannot be played."""
        ...

    def stop(self) -> None:
        """Stop the prompt playing, if any."""
        ...


class PromptPlayerBase:
    """The table lookup, mute, volume and the missing-file fallback shared by the players."""

    def __init__(self, audio_dir: Path | str, *, volume: float = 0.8, enabled: bool = True,
                 prompts: tuple[str, ...] = PROMPTS) -> None:
        self.audio_dir = Path(audio_dir)
        self.enabled = enabled
        self.muted = False
        self.played: list[tuple[str, str]] = []
        self._prompts = frozenset(prompts)
        self._volume = 0.0
        self._warned: set[Path] = set()
        self._lock = threading.Lock()
        self.set_volume(volume)

    @property
    def volume(self) -> float:
        return self._volume

    def set_volume(self, volume: float) -> None:
        self._volume = min(1.0, max(0.0, float(volume)))

    def warn_once(self, path: Path, what: str) -> None:
        with self._lock:
            if path in self._warned:
                return
            self._warned.add(path)
        log.warning("voice prompt %s: %s; staying silent", path, what)

    def play(self, prompt_id: str, language: str) -> bool:
        if not self.enabled or self.muted:
            return False
        if prompt_id not in self._prompts:
            log.warning("voice prompt %r is not in the prompt table; staying silent", prompt_id)
            return False
        path = prompt_path(self.audio_dir, language, prompt_id)
        if not path.is_file():
            self.warn_once(path, "no rendered file (run scripts/setup.sh)")
            return False
        try:
            started = self._play_file(path)
        except Exception:  # a player must never take a screen down; the warning says why
            log.warning("voice prompt %s failed to play", path, exc_info=True)
            started = False
        if started:
            self.played.append((prompt_id, language))
        return started

    def _play_file(self, path: Path) -> bool:
        """Start playing ``path`` at ``self.volume``; False if it could not be loaded."""
        raise NotImplementedError

    def stop(self) -> None:
        """Nothing plays in the base."""


class SilentVoicePlayer(PromptPlayerBase):
    """Plays nothing, but checks the table and the files like a real player and records the
    prompts it would have started (voice off in config, tests without an audio device)."""

    def _play_file(self, path: Path) -> bool:
        return True


__all__ = ["PROMPTS", "SPEED_WPM", "VOICES", "PromptPlayerBase", "SilentVoicePlayer",
           "VoicePlayer", "prompt_path"]

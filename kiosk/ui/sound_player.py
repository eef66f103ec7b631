"""The Kivy voice player: rendered prompts through ``SoundLoader`` (SDL2 audio).

``KivyVoicePlayer`` is a ``devices.voice.VoicePlayer``: the table, mute, volume and the
missing-file fallback come from ``PromptPlayerBase``; this class only loads and plays. Sounds
are loaded once and kept (a prompt is a few seconds of WAV). SDL2 hands back a sound object
even for a file it could not read, so a sound of no length counts as unloadable (a warning,
silence). Call it on the Kivy thread. ``build_voice_player(section)`` gives the player for the
``[voice]`` config: silent when ``enabled = false``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from config.voice import VoiceSection
from devices.voice import PromptPlayerBase, SilentVoicePlayer, VoicePlayer

log = logging.getLogger(__name__)


class KivyVoicePlayer(PromptPlayerBase):
    """Plays prompts with Kivy's SoundLoader (see the module docstring)."""

    def __init__(self, audio_dir: Path | str, *, volume: float = 0.8, enabled: bool = True) -> None:
        super().__init__(audio_dir, volume=volume, enabled=enabled)
        self._sounds: dict[Path, Any] = {}
        self._current: Any = None

    def _load(self, path: Path) -> Any:
        sound = self._sounds.get(path)
        if sound is None:
            from kivy.core.audio import SoundLoader

            sound = SoundLoader.load(str(path))
            if sound is None or not sound.length or sound.length <= 0:
                self.warn_once(path, "SoundLoader could not load it")
                return None
            self._sounds[path] = sound
        return sound

    def _play_file(self, path: Path) -> bool:
        sound = self._load(path)
        if sound is None:
            return False
        self.stop()
        sound.volume = self.volume
        sound.play()
        self._current = sound
        return True

    @property
    def current(self) -> Any:
        """The Kivy sound playing or played last (tests look at its ``source`` and ``state``)."""
        return self._current

    def stop(self) -> None:
        sound = self._current
        if sound is not None and sound.state == "play":
            sound.stop()


def build_voice_player(section: VoiceSection) -> VoicePlayer:
    """The player for ``[voice]``: Kivy's when enabled, else a disabled silent one."""
    if not section.enabled:
        return SilentVoicePlayer(section.dir, volume=section.volume, enabled=False)
    return KivyVoicePlayer(section.dir, volume=section.volume)

"""Spoken guidance, the UI's side: which prompt to say and when. The screens name a prompt by
the message id of the instruction or refusal they show; ``VoiceGuide`` passes it, in the
current language, to a ``PromptPlayer`` (the device that plays the rendered audio) while the
voice is on (senior mode, never in staff mode), and keeps the last one for the speaker button.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class PromptPlayer(Protocol):
    """Plays the prompt rendered for a message id in a language. A prompt with no audio is
    silence and a logged warning, never an error (the player's own promise)."""

    def play(self, prompt_id: str, language: str) -> None: ...


class VoiceGuide:
    """Says prompts through ``player`` while ``enabled``; ``history`` lists what was said (the
    prompt ids, in order) and ``repeat`` says the last one again."""

    def __init__(self, player: PromptPlayer | None) -> None:
        self.player = player
        self.enabled = False
        self.last: tuple[str, str] | None = None
        self.history: list[str] = []

    def say(self, prompt_id: str, language: str) -> None:
        if not prompt_id:
            return
        self.last = (prompt_id, language)
        if not self.enabled:
            return
        self.history.append(prompt_id)
        if self.player is None:
            log.debug("prompt %s (%s): no player", prompt_id, language)
            return
        try:
            self.player.play(prompt_id, language)
        except Exception:  # a voice failure must never stop a flow
            log.exception("prompt %s failed", prompt_id)

    def repeat(self, language: str | None = None) -> None:
        """Say the last prompt again (even if the voice was off when it was shown), in
        ``language`` when given (the reader may have switched since)."""
        if self.last is None or self.player is None:
            return
        prompt_id, said_in = self.last
        language = language or said_in
        self.history.append(prompt_id)
        try:
            self.player.play(prompt_id, language)
        except Exception:
            log.exception("prompt %s failed", prompt_id)

"""The ``[voice]`` section: spoken guidance (rendered prompt files, volume).

The prompt files are rendered at set-up (``python -m devices.voice_render``) into ``dir``
(relative to the working directory; kept out of git). ``enabled = false`` silences the kiosk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, StrictBool, StrictFloat, StrictStr, with_config


def _volume(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0.0 and 1.0, got {value!r}")
    return value


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class VoiceSection:
    enabled: StrictBool = True
    volume: Annotated[StrictFloat, AfterValidator(_volume)] = 0.8
    dir: StrictStr = "build/voice"

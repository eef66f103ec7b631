"""``[senior]``: senior mode (长者模式) — type scale, idle timeouts, voice. Checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
    with_config,
)

MIN_TYPE_SCALE = 1.5  # PRODUCT.md: type at least 1.5 times larger


def _scale(value: float) -> float:
    if not MIN_TYPE_SCALE <= value <= 2.5:
        raise ValueError(f"must be between {MIN_TYPE_SCALE} and 2.5, got {value!r}")
    return value


def _seconds(value: int) -> int:
    if not 10 <= value <= 1800:
        raise ValueError(f"must be between 10 and 1800 seconds, got {value!r}")
    return value


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class SeniorSection:
    """Senior mode: ``type_scale`` times the usual type, longer idle timeouts (the warning
    before the reset), prompts spoken when ``voice`` is on."""

    type_scale: Annotated[StrictFloat, AfterValidator(_scale)] = 1.6
    idle_warning_s: Annotated[StrictInt, AfterValidator(_seconds)] = 100
    idle_reset_s: Annotated[StrictInt, AfterValidator(_seconds)] = 150
    voice: StrictBool = True

    @field_validator("idle_reset_s")
    @classmethod
    def _after_warning(cls, value: int, info: ValidationInfo) -> int:
        warning = info.data.get("idle_warning_s")
        if isinstance(warning, int) and warning >= value:
            raise ValueError(f"must be above senior.idle_warning_s ({warning}), got {value}")
        return value

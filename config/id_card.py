"""The ``[id_card]`` section: which resident ID-card reader, on which port, with which timeouts.

``type = "serial"`` is a GA 467 SAM reader on a serial port (a USB reader usually shows up as
``/dev/ttyUSB0`` at 115200 8N1; ``devices.serial_id_card_reader``); ``"simulated"`` is the
in-memory reader (``devices.simulated_id_card_reader``), which can hold one of its demo cards
from start-up (``simulated_card``). Timeouts are short so a lost reader is seen in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, StrictFloat, StrictInt, StrictStr, with_config

SimulatedCardName = Literal["none", "adult", "child", "senior", "expired", "long_term"]


def _between(low: float, high: float, what: str) -> AfterValidator:
    def check(value: float) -> float:
        if not low < value <= high:
            raise ValueError(f"must be above {low} and at most {high} {what}, got {value!r}")
        return value

    return AfterValidator(check)


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class IdCardSection:
    type: Literal["serial", "simulated"] = "simulated"
    port: StrictStr = ""  # e.g. /dev/ttyUSB0 or /dev/serial/by-id/...
    baudrate: StrictInt = 115200
    # how often the monitor asks the reader for a card
    poll_interval_s: Annotated[StrictFloat, _between(0.0, 5.0, "seconds")] = 0.3
    # the longest wait for one answer; reading the base information takes about 1 s on real readers
    answer_timeout_s: Annotated[StrictFloat, _between(0.0, 5.0, "seconds")] = 1.5
    # the wait between attempts to reopen a lost port
    reconnect_interval_s: Annotated[StrictFloat, _between(0.0, 10.0, "seconds")] = 0.5
    simulated_card: SimulatedCardName = "none"  # the demo card the simulator holds at start-up

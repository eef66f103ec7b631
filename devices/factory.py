"""Devices built from config by ``type`` name; an unknown name is a clear config error.

Drivers with optional libraries (pyscard, pyserial, OpenCV, zxing-cpp) are imported only when
their type is asked for, so the kiosk starts without the extras it does not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from library_core.errors import ConfigError

if TYPE_CHECKING:
    from config.settings import CardReaderSection
    from devices.card_reader import CardReader


def build_card_reader(settings: CardReaderSection) -> CardReader:
    """The reader named by ``settings.type``. Raises ConfigError for an unknown type."""
    if settings.type == "simulated":
        from devices.simulated_card_reader import SimulatedCardReader

        return SimulatedCardReader(settings)
    if settings.type == "pcsc":
        from devices.pcsc_card_reader import PcscCardReader

        return PcscCardReader(settings)
    raise ConfigError("card_reader.type", f"unknown card reader type {settings.type!r}")

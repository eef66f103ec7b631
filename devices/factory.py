"""Devices built from config by ``type`` name; an unknown name is a clear config error.

Drivers with optional libraries (pyscard, pyserial, OpenCV, zxing-cpp) are imported only when
their type is asked for, so the kiosk starts without the extras it does not use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from library_core.errors import ConfigError

if TYPE_CHECKING:
    from config.id_card import IdCardSection
    from config.settings import CardReaderSection, PrinterSection, ScannerSection
    from devices.card_reader import CardReader
    from devices.id_card import IdCardReader
    from devices.printer import EscposReceiptPrinter
    from devices.scanner import Scanner
    from devices.simulated_printer import SimulatedReceiptPrinter
    from library_core.clock import Clock


def build_card_reader(settings: CardReaderSection, *, master_key: bytes = b"") -> CardReader:
    """The reader named by ``settings.type``, with the card master key (``Settings.card_master_key``).

    Raises ConfigError for an unknown type, or a PC/SC reader without a master key.
    """
    if settings.type == "simulated":
        from devices.simulated_card_reader import SimulatedCardReader

        return SimulatedCardReader(settings, master_key=master_key)
    if settings.type == "pcsc":
        from devices.pcsc_card_reader import PcscCardReader

        return PcscCardReader(settings, master_key=master_key)
    raise ConfigError("card_reader.type", f"unknown card reader type {settings.type!r}")


def build_id_card_reader(settings: IdCardSection, *, clock: Clock | None = None) -> IdCardReader:
    """The resident ID-card reader named by ``settings.type`` (the clock ages the demo cards).

    Raises ConfigError for an unknown type, or a serial reader without a port.
    """
    if settings.type == "simulated":
        from devices.simulated_id_card_reader import SimulatedIdCardReader

        return SimulatedIdCardReader(settings, clock=clock)
    if settings.type == "serial":
        if not settings.port:
            raise ConfigError("id_card.port", "a serial ID-card reader needs a port, e.g. /dev/ttyUSB0")
        from devices.serial_id_card_reader import SerialIdCardReader

        return SerialIdCardReader(settings)
    raise ConfigError("id_card.type", f"unknown ID-card reader type {settings.type!r}")


def build_scanner(settings: ScannerSection) -> Scanner:
    """The scanner named by ``settings.type``. Raises ConfigError for an unknown type."""
    if settings.type == "serial":
        if not settings.port:
            raise ConfigError("scanner.port", "a serial scanner needs a port, e.g. /dev/ttyACM0")
        from devices.serial_scanner import SerialScanner

        return SerialScanner(settings)
    if settings.type == "wedge":
        from devices.wedge_scanner import KeyboardWedgeScanner

        return KeyboardWedgeScanner(settings)
    if settings.type == "simulated":
        from devices.simulated_scanner import SimulatedScanner

        return SimulatedScanner()
    if settings.type == "camera":
        from devices.camera_scanner import CameraScanner

        return CameraScanner(settings)
    raise ConfigError("scanner.type", f"unknown scanner type {settings.type!r}")


def build_printer(
    settings: PrinterSection, *, preview_dir: Path | str | None = None
) -> EscposReceiptPrinter | SimulatedReceiptPrinter:
    """The printer named by ``settings.type``. Raises ConfigError for an unknown type."""
    if settings.type == "simulated":
        from devices.simulated_printer import SimulatedReceiptPrinter

        return SimulatedReceiptPrinter(
            paper_width_mm=settings.paper_width_mm,
            chinese_mode=settings.chinese_mode,
            preview_dir=preview_dir,
        )
    if settings.type in ("network", "usb", "serial", "file", "dummy"):
        from devices.printer import EscposReceiptPrinter

        return EscposReceiptPrinter(settings)
    raise ConfigError("printer.type", f"unknown printer type {settings.type!r}")

"""Devices built from config by ``type`` name; an unknown name is a clear config error.

Drivers with optional libraries (pyscard, pyserial, OpenCV, zxing-cpp) are imported only when
their type is asked for, so the kiosk starts without the extras it does not use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from library_core.errors import ConfigError

if TYPE_CHECKING:
    from config.settings import CardReaderSection, PrinterSection, ScannerSection
    from devices.card_reader import CardReader
    from devices.printer import EscposReceiptPrinter
    from devices.scanner import Scanner
    from devices.simulated_printer import SimulatedReceiptPrinter


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

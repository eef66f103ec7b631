"""A simulated scanner for demo, training and tests."""

from __future__ import annotations

import logging

from devices.scanner import Scanned, ScannerBase, ScannerState

log = logging.getLogger(__name__)

class SimulatedScanner(ScannerBase):
    """Demo and test scanner: ``scan(text)`` delivers a scan as a real device would."""

    def __init__(self, source: str = "simulated") -> None:
        super().__init__(source)
        self._running = False

    def start(self) -> None:
        self._running = True
        self._set_status(ScannerState.ONLINE, "device.scanner.online")

    def stop(self) -> None:
        self._running = False
        self._set_status(ScannerState.STOPPED, "device.scanner.stopped")

    def scan(self, text: str) -> bool:
        """Deliver ``text`` to subscribers; False (and nothing sent) while stopped."""
        if not self._running:
            log.warning("simulated scan %r ignored: scanner stopped", text)
            return False
        self._emit(Scanned(text, self.source))
        return True

    def disconnect(self, detail: str = "simulated unplug") -> None:
        """Pretend the scanner was unplugged (diagnostics, UI tests)."""
        self._running = False
        self._set_status(ScannerState.OFFLINE, "device.scanner.disconnected", detail)

"""A receipt printer in memory for the demo, training and tests."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from devices.printer import (
    STATUS_OK,
    PaperState,
    PrinterStatus,
    PrintResult,
    decode_status,
    raise_for_status,
)
from devices.receipt_layout import render_receipt
from devices.receipt_text import ChineseMode, paper_spec
from library_core.receipts import Receipt

log = logging.getLogger(__name__)

class SimulatedReceiptPrinter:
    """A printer in memory for the demo and tests: keeps job bytes, can be put into faults."""

    def __init__(
        self,
        *,
        paper_width_mm: int = 80,
        chinese_mode: ChineseMode = "fs",
        preview_dir: Path | str | None = None,
    ) -> None:
        self.paper = paper_spec(paper_width_mm)
        self.chinese_mode: ChineseMode = chinese_mode
        self.preview_dir = Path(preview_dir) if preview_dir else None
        self.jobs: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._status = STATUS_OK

    def set_state(
        self, *, online: bool = True, paper: PaperState = "ok", cover_open: bool = False
    ) -> None:
        """Put the simulated printer into a state (paper out, cover open, offline...)."""
        offline = not online or cover_open or paper == "out"
        status = decode_status(
            0x1E if offline else 0x16,
            0x12 | (0x04 if cover_open else 0) | (0x20 if paper == "out" else 0),
            0x12 | (0x60 if paper == "out" else 0x0C if paper == "near_end" else 0),
        )
        with self._lock:
            self._status = status

    def status(self) -> PrinterStatus:
        with self._lock:
            return self._status

    @property
    def last_job(self) -> bytes:
        with self._lock:
            return self.jobs[-1][1] if self.jobs else b""

    def print_receipt(self, receipt: Receipt) -> PrintResult:
        status = self.status()
        raise_for_status(status, "simulated printer")
        job = render_receipt(
            receipt, paper_width_mm=self.paper.width_mm, chinese_mode=self.chinese_mode
        )
        with self._lock:
            self.jobs.append((receipt.receipt_no, job))
        if self.preview_dir is not None:
            try:
                from devices.receipt_preview import render_png

                render_png(job, self.paper.dots, self.preview_dir / f"{receipt.receipt_no}.png")
            except OSError as err:
                log.warning("could not write receipt preview: %s", err)
        return PrintResult(True, status, status.message_id or "printer.ok", receipt.receipt_no)

"""What the kiosk tells the record server about its devices with each sync.

``DeviceStatusReporter`` asks the printer, card reader and scanner for their state (each
through its own protocol's ``status``; a device that cannot be asked is reported as such, never
raises) and adds the software version, the events waiting and the previous round's sync error.
The result is the contract's ``DeviceStatus`` (``library_core.contract.status``), as a dict for
the push body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from library_core.clock import Clock
from library_core.contract import DeviceStatus, IlsLinkStatus, PrinterState

log = logging.getLogger(__name__)

DeviceStatusSource = Callable[[str], dict[str, Any] | None]
"""What the sync engine calls once per round for the push body's ``device_status``, with the
previous round's error ("" when it went through)."""


class DeviceStatusReporter:
    """Builds the kiosk's ``DeviceStatus`` from its devices; any of them may be None."""

    def __init__(self, *, clock: Clock, software_version: str, printer: Any = None,
                 card_reader: Any = None, scanner: Any = None,
                 pending: Callable[[], int] | None = None, ils: Any = None) -> None:
        self.clock = clock
        self.software_version = software_version[:32] or "unknown"
        self.printer = printer
        self.card_reader = card_reader
        self.scanner = scanner
        self.pending = pending
        self.ils = ils  # server_client.sip2.wiring.IlsRuntime when circulation is sip2

    def _printer(self) -> PrinterState:
        if self.printer is None:
            return PrinterState(online=False, paper="unknown")
        try:
            st = self.printer.status()
        except Exception as err:  # PrinterError carries the last known status
            st = getattr(err, "status", None)
            if st is None:
                log.warning("printer status unavailable: %s", err)
                return PrinterState(online=False, paper="unknown")
        paper = str(getattr(st, "paper", "unknown"))
        return PrinterState(online=bool(st.online),
                            paper=paper if paper in ("ok", "near_end", "out")  # type: ignore[arg-type]
                            else "unknown",
                            cover_open=bool(getattr(st, "cover_open", False)))

    def _card_reader(self) -> str:
        if self.card_reader is None:
            return "unknown"
        try:
            status = self.card_reader.status  # a property on CardReaderBase, a method elsewhere
            state = str(getattr(status() if callable(status) else status, "state", "unknown"))
        except Exception as err:
            log.warning("card reader status unavailable: %s", err)
            return "unknown"
        return state if state in ("ready", "no_reader", "no_service", "recovering") else "unknown"

    def _scanner(self) -> str:
        if self.scanner is None:
            return "none"
        try:
            status = self.scanner.status
            state = str(getattr(status() if callable(status) else status, "state", "unknown"))
        except Exception as err:
            log.warning("scanner status unavailable: %s", err)
            return "unknown"
        return state if state in ("online", "offline", "stopped") else "unknown"

    def _pending(self) -> int:
        try:
            return max(0, int(self.pending())) if self.pending is not None else 0
        except Exception:
            log.exception("pending count unavailable")
            return 0

    def _ils(self) -> IlsLinkStatus | None:
        if self.ils is None:
            return None
        try:
            link = self.ils.client.link()
            queued = int(self.ils.desk.queue.pending_count())
            err_at = link.last_error_at.isoformat() if link.last_error_at else None
            return IlsLinkStatus(state="up" if link.up else "down",
                                 last_error=str(link.last_error)[:64],
                                 last_error_detail=str(link.last_error_detail)[:200],
                                 last_error_at=err_at, queued=max(0, queued))
        except Exception as err:  # a bad message id or detail: the link's state still goes
            log.warning("ILS link status incomplete: %s", err)
            try:
                return IlsLinkStatus(state="up" if self.ils.client.link().up else "down")
            except Exception:
                log.exception("ILS link status unavailable")
                return None

    def snapshot(self, last_sync_error: str = "") -> DeviceStatus:
        return DeviceStatus(
            reported_at=self.clock.now().isoformat(), software_version=self.software_version,
            card_reader=self._card_reader(),  # type: ignore[arg-type]
            printer=self._printer(), scanner=self._scanner(),  # type: ignore[arg-type]
            pending_events=self._pending(), last_sync_error=last_sync_error[:200],
            ils=self._ils())

    def __call__(self, last_sync_error: str = "") -> dict[str, Any] | None:
        """The push body's ``device_status``; None (and a log line) if it cannot be built."""
        try:
            return self.snapshot(last_sync_error).model_dump()
        except ValidationError as err:
            log.warning("device status not sent: %s", err)
            return None

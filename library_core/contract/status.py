# mypy: disable-error-code="valid-type"
"""A kiosk's device status, sent with each sync (the push body's ``device_status``).

Additive to contract version 1: a server that predates it refuses the field (strict bodies), a
kiosk that predates it sends none. Every state is a closed set of names, so the console shows a
translated word and a kiosk cannot put free text on the office's screen (``detail`` fields are
bounded, clean text for diagnostics).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from library_core.contract.types import IsoDateTime, Strict, text

CardReaderState = Literal["ready", "no_reader", "no_service", "recovering", "unknown"]
PaperState = Literal["ok", "near_end", "out", "unknown"]
ScannerState = Literal["online", "offline", "stopped", "none", "unknown"]
IlsState = Literal["up", "down"]


class PrinterState(Strict):
    online: bool
    paper: PaperState = "unknown"
    cover_open: bool = False


class IlsLinkStatus(Strict):
    """The kiosk's SIP2 link to the library's ILS (only when its circulation adapter is sip2):
    up or down, the last failure (a message id and a short detail), transactions queued."""

    state: IlsState
    last_error: text(64, min_length=0, pattern=r"^[a-z0-9_.]*$") = ""
    last_error_detail: text(200, min_length=0) = ""
    last_error_at: IsoDateTime | None = None
    queued: int = Field(default=0, ge=0, le=10**9, strict=True)


class DeviceStatus(Strict):
    """What the kiosk knows of its own devices and sync at ``reported_at`` (its clock)."""

    reported_at: IsoDateTime
    software_version: text(32)
    card_reader: CardReaderState = "unknown"
    printer: PrinterState = PrinterState(online=False)
    scanner: ScannerState = "unknown"
    pending_events: int = Field(default=0, ge=0, le=10**9, strict=True)
    # the previous sync round's error (empty when it went through): message id or short text
    last_sync_error: text(200, min_length=0) = ""
    # additive: the ILS link (issue 15.3); None when the kiosk checks in against our server
    ils: IlsLinkStatus | None = None


def device_status(**fields: Any) -> DeviceStatus:
    """Build and check one status. Raises pydantic.ValidationError."""
    return DeviceStatus.model_validate(fields)

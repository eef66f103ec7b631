"""Typed errors. Every error carries a message id that the UI translates.

One root, ``KioskError``; branches for domain rules, devices, sync and configuration.
``params`` are the named fields the translated message may use (``{days}``, ``{amount}``).
"""

from __future__ import annotations

from typing import Any


class KioskError(Exception):
    """Root of every error the product raises on purpose."""

    message_id: str = "error.generic"

    def __init__(self, message_id: str | None = None, detail: str = "", **params: Any) -> None:
        if message_id is not None:
            self.message_id = message_id
        self.detail = detail
        self.params = params
        super().__init__(f"{self.message_id}: {detail}" if detail else self.message_id)


class DomainError(KioskError):
    """A business rule refused the request (bad input, expired card, fees owed...)."""

    message_id = "error.rule"


class ValidationError(DomainError):
    """Bad input from a form, a scan or a file."""

    message_id = "error.invalid"


class TokenError(DomainError):
    """A card token or visitor pass was refused; ``reason`` says why."""

    message_id = "error.token"

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"token.{reason}", detail, reason=reason)


class NotFound(DomainError):
    message_id = "error.not_found"


class StoreError(KioskError):
    """The local store failed (disk, integrity, lock)."""

    message_id = "error.store"


class DeviceError(KioskError):
    """A device failed; subclasses per device kind live in ``devices``."""

    message_id = "error.device"


class PaymentError(KioskError):
    """The payment gateway refused or failed."""

    message_id = "error.payment"


class SyncError(KioskError):
    """Talking to the record server failed."""

    message_id = "error.sync"


class ConfigError(KioskError):
    """A configuration file or secret is missing or wrong; names the key."""

    message_id = "error.config"

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        super().__init__("error.config", f"{key}: {detail}", key=key)

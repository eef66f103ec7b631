"""``[receipts]``: where a receipt's QR points (the e-receipt's public host, issue 12.12).

``public_base_url`` is the library's public address of the record server (what a reader's phone
can reach, e.g. ``https://lib.example.cn``); empty means ``[server] url``. Outside demo mode it
must be ``https://``. ``ereceipts = false`` keeps the old QR (the receipt number).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import ConfigDict, StrictBool, StrictStr, with_config

from library_core.errors import ConfigError

KEY = "receipts.public_base_url"


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class ReceiptsSection:
    """The e-receipt's base URL (``<base>/r/<token>`` on every reader receipt's QR)."""

    public_base_url: StrictStr = ""
    ereceipts: StrictBool = True

    @property
    def ereceipt_base_url(self) -> str:
        """The checked base URL, or "" when e-receipts are off."""
        return self.public_base_url if self.ereceipts else ""


def check_receipts(section: ReceiptsSection, *, server_url: str, demo: bool) -> ReceiptsSection:
    """The section with its base URL checked and without a trailing slash.

    Raises ConfigError naming ``receipts.public_base_url``: not http(s), plain http outside demo
    mode, no host, or a user, query or fragment in it.
    """
    url = (section.public_base_url or server_url).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(KEY, f"must be an http(s) URL with a host, got {url!r}")
    if parts.scheme != "https" and not demo:
        raise ConfigError(KEY, "must be https:// outside demo mode (a reader's phone opens it)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(KEY, "must hold no user, query or fragment")
    return dataclasses.replace(section, public_base_url=url.rstrip("/"))

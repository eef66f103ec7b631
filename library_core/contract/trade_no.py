"""Our out-trade-number of a mobile payment: made by the kiosk that takes the payment
(``kiosk.payments.lifecycle``), read back by the record server (the pushing kiosk may book only
its own trades: ``record_server.ingest.trades``; a provider's bill names the kiosk that asked for
money nobody booked: ``record_server.console.bill_import``).

``LK`` + the kiosk's server-assigned number (5 digits) + the day (``yymmdd``) + the kiosk's
intent counter (8 digits) + a check of what it pays for (4 hex digits): unique across kiosks, at
most 32 characters, letters and digits (both providers' limits).
"""

from __future__ import annotations

import hashlib
import re

_FORM = re.compile(r"LK(\d{5})\d{6}\d{8}[0-9A-F]{4}")


def make(kiosk_no: int, day: str, seq: int, reference: str, amount: int) -> str:
    """The out-trade-number of kiosk ``kiosk_no``'s ``seq``-th payment intent on ``day``."""
    check = hashlib.sha256(f"{reference}|{amount}".encode()).hexdigest()[:4].upper()
    return f"LK{kiosk_no:05d}{day}{seq:08d}{check}"


def kiosk_no_of(out_trade_no: str) -> int | None:
    """The number of the kiosk that made ``out_trade_no``; None if it is not of our form."""
    match = _FORM.fullmatch(out_trade_no)
    return int(match.group(1)) if match else None

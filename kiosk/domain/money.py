"""Money is integer fen (1 yuan = 100 fen); never a float."""

from __future__ import annotations

import re

from kiosk.errors import ValidationError

Fen = int

_YUAN_RE = re.compile(r"\s*¥?\s*([0-9]{1,9}|[0-9]{1,3}(?:,[0-9]{3}){1,2})(?:\.([0-9]{1,2}))?\s*")


def format_fen(amount: Fen, *, symbol: str = "¥") -> str:
    """``1250`` -> ``¥12.50``; negative amounts get a leading minus (``-¥3.00``)."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"money must be integer fen, got {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    yuan, fen = divmod(abs(amount), 100)
    return f"{sign}{symbol}{yuan:,}.{fen:02d}"


def parse_yuan(text: str) -> Fen:
    """``"12.5"`` -> ``1250``; also reads ``format_fen`` output (``"¥1,234.50"``).

    Raises ValidationError (``money.invalid``) for anything else, negatives included.
    """
    m = _YUAN_RE.fullmatch(text)
    if not m:
        raise ValidationError("money.invalid", f"not an amount: {text!r}")
    yuan, frac = m.group(1).replace(",", ""), (m.group(2) or "")
    return int(yuan) * 100 + int(frac.ljust(2, "0"))

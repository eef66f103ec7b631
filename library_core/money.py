"""Money is integer fen (1 yuan = 100 fen); never a float."""

from __future__ import annotations

Fen = int


def format_fen(amount: Fen, *, symbol: str = "¥") -> str:
    """``1250`` -> ``¥12.50``; negative amounts get a leading minus (``-¥3.00``)."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"money must be integer fen, got {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    yuan, fen = divmod(abs(amount), 100)
    return f"{sign}{symbol}{yuan:,}.{fen:02d}"

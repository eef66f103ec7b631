"""The supervisor's count of the cash drawer at close of day: typed as yuan with at most two
decimals (``123.45``), kept as integer fen. Every refusal is a ``ValidationError`` whose message
id names what is wrong (both catalogs, ``errors`` domain)."""

from __future__ import annotations

from typing import Final

from library_core.errors import ValidationError
from library_core.money import Fen, format_fen

# the largest count taken: a kiosk's drawer holds far less; a longer number is a typing slip
CASH_COUNT_MAX: Final[Fen] = 99_999_999  # ¥999,999.99
_DIGITS: Final = frozenset("0123456789")  # str.isdigit() would take other scripts' digits too


def parse_cash_count(text: str) -> Fen:
    """``"123.45"`` -> ``12345`` fen.

    Raises ValidationError ``cash_count.empty``, ``cash_count.negative``,
    ``cash_count.not_a_number`` (letters, signs, two points), ``cash_count.too_many_decimals``
    or ``cash_count.too_large``."""
    value = text.strip()
    if not value:
        raise ValidationError("cash_count.empty", "no amount typed")
    if value.startswith("-") or value.startswith("−"):
        raise ValidationError("cash_count.negative", f"negative count {value!r}")
    whole, point, decimals = value.partition(".")
    if (not whole and not decimals) or not set(whole + decimals) <= _DIGITS:
        raise ValidationError("cash_count.not_a_number", f"not an amount: {value!r}")
    if len(decimals) > 2:
        raise ValidationError("cash_count.too_many_decimals", f"{value!r} has fen below 0.01")
    limit = {"max": format_fen(CASH_COUNT_MAX)}
    if len(whole.lstrip("0")) > len(str(CASH_COUNT_MAX // 100)):  # before int(): no huge ints
        raise ValidationError("cash_count.too_large", f"{value!r} is over the limit", **limit)
    fen = int(whole or "0") * 100 + int((decimals + "00")[:2]) if point else int(whole) * 100
    return check_cash_count(fen)


def check_cash_count(fen: Fen) -> Fen:
    """A count in fen as the close of day takes it. Raises ValidationError (as above)."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise ValidationError("cash_count.not_a_number", f"not integer fen: {fen!r}")
    if fen < 0:
        raise ValidationError("cash_count.negative", f"negative count {fen}")
    if fen > CASH_COUNT_MAX:
        raise ValidationError("cash_count.too_large", f"{fen} fen is over the limit",
                              max=format_fen(CASH_COUNT_MAX))
    return fen

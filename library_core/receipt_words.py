"""A receipt's words in a language: money as ``￥12.50``, message ids translated, payment
methods named, Localized names picked. The printer's layout (``devices.receipt_layout``) and
the e-receipt page (``record_server.ereceipts``) both use these, so paper and phone agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from library_core.i18n import has_message, translate
from library_core.money import format_fen
from library_core.receipts import localized_text

MONEY_SYMBOL = "￥"  # full-width yen sign: GB2312 A3A4, present in every Chinese printer font


def money(amount: int) -> str:
    return format_fen(amount, symbol=MONEY_SYMBOL)


def fmt_params(params: Mapping[str, Any], language: str) -> dict[str, Any]:
    """Money params (``amount`` or ``*_fen``, integers) become ``￥12.50``; ids get translated."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if (
            (key == "amount" or key.endswith("_fen"))
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            out[key] = money(value)
        elif key == "method" and isinstance(value, str):
            out[key] = method_text(value, language)
        elif isinstance(value, dict):
            out[key] = localized_text(value, language)
        else:
            out[key] = value
    return out


def words(message_id: str, language: str, **params: Any) -> str:
    """``message_id`` translated with its params formatted (``fmt_params``)."""
    return translate(message_id, language, **fmt_params(params, language))


def value_text(value: str | dict[str, str], language: str) -> str:
    """A field value as printed: a known message id is translated, a Localized name picked."""
    if isinstance(value, dict):
        return localized_text(value, language)
    if value.startswith("receipt.") and has_message(value, language):
        return translate(value, language)
    return value


def method_text(method: str, language: str) -> str:
    key = f"receipt.method.{method}"
    return translate(key, language) if has_message(key, language) else method


def time_text(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")

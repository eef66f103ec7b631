"""Shapes of the numbers the library prints and scans: card numbers, item barcodes,
staff numbers, payment codes, receipt numbers. Pure functions, no I/O.

- Reader card number: 14 digits, starts with ``2``, last digit a Luhn check digit.
- Item barcode: 14 digits, starts with ``3``, Luhn check digit (the common library Codabar shape).
- Staff number: ``S`` + 4 to 6 digits; a staff card carries the same number.
- Payment code: WeChat Pay 18 digits starting 10-15; Alipay 16-24 digits starting 25-30.
- Receipt number: ``K01-20261124-0001``: kiosk id, local date, daily sequence.
"""

from __future__ import annotations

import datetime as dt
import enum
import re

_STAFF_RE = re.compile(r"S[0-9]{4,6}")
_KIOSK_RE = re.compile(r"K[0-9]{2,4}")


_LUHN_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # 2d, less 9 when above 9


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for a string of ASCII digits (from the right, every other digit
    doubled starting with the rightmost). Bytes arithmetic, no loop in Python: imports check
    a million barcodes. Raises ValueError for anything but ASCII digits."""
    if digits and not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not digits: {digits!r}")
    backwards = digits[::-1].encode("ascii")
    doubled, plain = backwards[0::2].translate(_LUHN_DOUBLED), backwards[1::2]
    total = sum(doubled) + sum(plain) - 48 * len(backwards)  # 48 is b"0"
    return str((10 - total % 10) % 10)


def _ascii_digits(text: str) -> bool:
    """Only 0-9: ``str.isdigit`` also accepts "²" and "١", which ``int`` then refuses or misreads."""
    return text.isascii() and text.isdigit()


def luhn_ok(number: str) -> bool:
    return len(number) >= 2 and _ascii_digits(number) and luhn_digit(number[:-1]) == number[-1]


def make_card_no(serial: int) -> str:
    body = "2" + str(serial).zfill(12)
    return body + luhn_digit(body)


def make_item_barcode(serial: int) -> str:
    body = "3" + str(serial).zfill(12)
    return body + luhn_digit(body)


def is_card_no(text: str) -> bool:
    return len(text) == 14 and text[0] == "2" and luhn_ok(text)


def is_item_barcode(text: str) -> bool:
    return len(text) == 14 and text[0] == "3" and luhn_ok(text)


def is_staff_no(text: str) -> bool:
    return bool(_STAFF_RE.fullmatch(text))


def is_kiosk_id(text: str) -> bool:
    return bool(_KIOSK_RE.fullmatch(text))


class PaymentProvider(enum.StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"


def payment_provider(code: str) -> PaymentProvider | None:
    """Which wallet made this payment code, or None if it is not one."""
    if not _ascii_digits(code):
        return None
    if len(code) == 18 and 10 <= int(code[:2]) <= 15:
        return PaymentProvider.WECHAT
    if 16 <= len(code) <= 24 and 25 <= int(code[:2]) <= 30:
        return PaymentProvider.ALIPAY
    return None


def format_receipt_no(kiosk_id: str, day: dt.date, seq: int) -> str:
    if not 1 <= seq <= 9999:
        raise ValueError("receipt sequence out of range for one day")
    return f"{kiosk_id}-{day:%Y%m%d}-{seq:04d}"

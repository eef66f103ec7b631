"""Chinese resident ID numbers (GB 11643-1999) and mainland mobile numbers: validate and mask."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from library_core.errors import ValidationError

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def normalize_resident_id(text: str) -> str:
    """Strip spaces and upper-case a trailing ``x``."""
    return text.strip().replace(" ", "").upper()


def validate_resident_id(text: str, *, today: dt.date | None = None) -> str:
    """Return the normalised ID number or raise ValidationError with the reason.

    Reasons (message ids): ``id.length``, ``id.format``, ``id.checksum``, ``id.birth_date``.
    """
    value = normalize_resident_id(text)
    if len(value) != 18:
        raise ValidationError("id.length", f"ID number must have 18 characters, got {len(value)}")
    if not _ID_RE.fullmatch(value):
        raise ValidationError("id.format", "ID number must be 17 digits and a digit or X")
    if id_check_char(value[:17]) != value[17]:
        raise ValidationError("id.checksum", "ID number check character does not match")
    birth = birth_date_from_id(value)
    if birth is None:
        raise ValidationError("id.birth_date", "ID number holds no valid birth date")
    if birth.year < 1900 or (today is not None and birth > today):
        raise ValidationError("id.birth_date", "ID number birth date is out of range")
    return value


def birth_date_from_id(value: str) -> dt.date | None:
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def mask_resident_id(value: str) -> str:
    """``110105199003071234`` -> ``110***********1234`` (first 3 and last 4 shown)."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def validate_mobile(text: str) -> str:
    """Return the 11-digit mainland mobile number or raise ValidationError (``phone.invalid``)."""
    value = text.strip().replace(" ", "").replace("-", "")
    if value.startswith("+86"):
        value = value[3:]
    if not _MOBILE_RE.fullmatch(value):
        raise ValidationError("phone.invalid", "mobile number must be 11 digits starting 13-19")
    return value


def mask_mobile(value: str) -> str:
    """``13812345678`` -> ``138****5678``."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


ID_HASH_LENGTH = 64
_ID_HASH_CONTEXT = b"library reader id number v1\x00"  # apart from the card-token MAC's input


def id_number_hash(id_number: str, library_key: bytes) -> str:
    """The keyed hash of a resident ID number for "same person" checks: HMAC-SHA256 with the
    library key (server and kiosks share it) over the normalised number, 64 hex digits.

    A kiosk keeps this, never the number: without the key a stolen replica does not give the
    numbers back by trying every date of birth. Raises ValueError for an empty key.
    """
    if not library_key:
        raise ValueError("no library key")
    value = normalize_resident_id(id_number).encode("ascii", "replace")
    return hmac.new(library_key, _ID_HASH_CONTEXT + value, hashlib.sha256).hexdigest()

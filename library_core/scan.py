"""Classify one scanned text (QR code or barcode) into what the kiosk can act on.

Pure rules, no I/O: a scan from any reader (serial, keyboard wedge, camera, simulator) goes
through ``ScanParser.parse``, which returns either a ``Scan`` (item barcode, reader card number,
visitor pass, payment code, staff card) or a ``ScanRefused`` carrying a message id the UI
translates. Refusal is a returned value, not an exception, because a bad scan is an everyday
event at a kiosk, not a fault; ``ScanParser.require`` raises ``ScanRejected`` (a
``ValidationError`` with the same message id) for services that prefer exceptions.
``parse`` never raises, whatever the text.

Normalisation before classifying: surrounding whitespace, CR and LF are stripped; text that is
pure ASCII is upper-cased (a keyboard-wedge scanner with Caps Lock on inverts the case, and no
valid shape holds a lower-case letter); a Codabar start/stop wrapper (``A``/``B``/``C``/``D``
around Codabar data characters) is removed.

Refusal message ids (domain ``scan``):

- ``scan.empty``: nothing but whitespace.
- ``scan.too_long``: more than ``MAX_SCAN_LENGTH`` characters.
- ``scan.control_chars``: control or invisible format characters inside the text.
- ``scan.pass_tampered``: a visitor pass whose signature does not match (forged or altered).
- ``scan.pass_expired``: a visitor pass past its expiry.
- ``scan.pass_malformed``: starts like a visitor pass but is damaged or cut short.
- ``scan.check_digit``: a card number or item barcode whose check digit is wrong (misread).
- ``scan.isbn``: the book's ISBN (EAN-13) instead of the library's item barcode.
- ``scan.unknown``: any other shape.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from library_core import codes
from library_core.clock import CHINA_TZ, Clock
from library_core.errors import TokenError, ValidationError
from library_core.tokens import PASS_PREFIX, VisitorPass, decode_visitor_pass

MAX_SCAN_LENGTH = 64
_CODABAR_STOPS = frozenset("ABCD")
_CODABAR_DATA_RE = re.compile(r"^[0-9\-$:/.+]+$")
_DIGITS_RE = re.compile(r"^[0-9]+$")  # ASCII digits only; str.isdigit() also accepts "²" and "١"
_DETAIL_CHARS = 24


class ScanKind(enum.StrEnum):
    ITEM = "item"
    READER_CARD = "reader_card"
    VISITOR_PASS = "visitor_pass"
    PAYMENT_CODE = "payment_code"
    STAFF_CARD = "staff_card"


@dataclass(frozen=True, slots=True)
class Scan:
    """A scan the kiosk understood. ``value`` is the normalised text."""

    kind: ScanKind
    value: str
    provider: codes.PaymentProvider | None = None
    visitor_pass: VisitorPass | None = None


@dataclass(frozen=True, slots=True)
class ScanRefused:
    """A scan the kiosk cannot use; ``message_id`` is shown to the reader, ``detail`` is logged."""

    message_id: str
    detail: str = ""

    def to_error(self) -> ScanRejected:
        return ScanRejected(self.message_id, self.detail)


ScanResult = Scan | ScanRefused


class ScanRejected(ValidationError):
    """Raised by ``ScanParser.require`` for a refused scan; carries the refusal's message id."""

    message_id = "scan.unknown"


def _short(text: str) -> str:
    """A bounded, printable rendering of the scan for logs (never the whole of a long scan)."""
    if len(text) > _DETAIL_CHARS:
        return repr(text[:_DETAIL_CHARS]) + f"... ({len(text)} chars)"
    return repr(text)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def _strip_codabar(text: str) -> str:
    if (
        len(text) >= 3
        and text[0] in _CODABAR_STOPS
        and text[-1] in _CODABAR_STOPS
        and _CODABAR_DATA_RE.match(text[1:-1])
    ):
        return text[1:-1]
    return text


def _is_isbn13(text: str) -> bool:
    if len(text) != 13 or not text.startswith(("978", "979")) or not _DIGITS_RE.match(text):
        return False
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(text[:12]))
    return (10 - total % 10) % 10 == int(text[12])


def normalize_scan(text: str) -> str:
    """Strip whitespace and CR/LF, upper-case ASCII text, drop a Codabar start/stop wrapper."""
    value = text.strip()
    if value.isascii():
        value = value.upper()
    return _strip_codabar(value)


class ScanParser:
    """Turns scanned text into a ``Scan`` or a ``ScanRefused``.

    ``library_key`` verifies visitor-pass signatures; ``clock`` decides whether a pass expired.
    """

    def __init__(self, library_key: bytes, clock: Clock) -> None:
        self._key = library_key
        self._clock = clock

    def parse(self, text: str) -> ScanResult:
        """Classify ``text``. Never raises; a refusal is returned as ``ScanRefused``."""
        if not isinstance(text, str):
            return ScanRefused("scan.unknown", f"not text: {type(text).__name__}")
        stripped = text.strip()
        if not stripped:
            return ScanRefused("scan.empty", "blank scan")
        if len(stripped) > MAX_SCAN_LENGTH:
            return ScanRefused(
                "scan.too_long", f"{len(stripped)} characters, at most {MAX_SCAN_LENGTH}"
            )
        if _has_control(stripped):
            return ScanRefused("scan.control_chars", f"control characters in {_short(stripped)}")
        value = normalize_scan(stripped)

        if value.startswith(PASS_PREFIX):
            return self._visitor_pass(value)
        if codes.is_staff_no(value):
            return Scan(ScanKind.STAFF_CARD, value)
        if not _DIGITS_RE.match(value):
            return ScanRefused("scan.unknown", f"unknown shape {_short(value)}")
        if len(value) == 14 and value[0] in "23":
            if codes.is_item_barcode(value):
                return Scan(ScanKind.ITEM, value)
            if codes.is_card_no(value):
                return Scan(ScanKind.READER_CARD, value)
            kind = "card number" if value[0] == "2" else "item barcode"
            return ScanRefused("scan.check_digit", f"{kind} {value} fails its check digit")
        provider = codes.payment_provider(value)
        if provider is not None:
            return Scan(ScanKind.PAYMENT_CODE, value, provider=provider)
        if _is_isbn13(value):
            return ScanRefused("scan.isbn", f"ISBN {value} instead of the item barcode")
        return ScanRefused("scan.unknown", f"unknown number shape, {len(value)} digits")

    def require(self, text: str) -> Scan:
        """Like ``parse`` but raises ``ScanRejected`` (a ValidationError) for a refusal."""
        result = self.parse(text)
        if isinstance(result, ScanRefused):
            raise result.to_error()
        return result

    def _visitor_pass(self, value: str) -> ScanResult:
        now = self._clock.now()
        if now.tzinfo is None:  # a clock must be aware; read a naive one as library time
            now = now.replace(tzinfo=CHINA_TZ)
        try:
            vp = decode_visitor_pass(value, self._key, now=now)
        except TokenError as err:
            message_id = {
                "tampered": "scan.pass_tampered",
                "expired": "scan.pass_expired",
            }.get(err.reason, "scan.pass_malformed")
            return ScanRefused(message_id, err.detail)
        return Scan(ScanKind.VISITOR_PASS, value, visitor_pass=vp)


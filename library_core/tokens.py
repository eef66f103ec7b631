"""Card tokens (stored in a MIFARE sector) and visitor passes (printed as a QR), both MAC'd.

Card token: 48 bytes = three 16-byte blocks of one sector::

    0-1   magic b"LK"
    2     format version (1)
    3-8   card number, 6-byte big-endian integer (14 decimal digits)
    9-10  card generation, big-endian (replacement cards get a higher one)
    11-13 expiry, days since 2000-01-01, big-endian
    14-15 UID tag: first two bytes of SHA-256(UID), so a copy onto another card says so
    16-47 HMAC-SHA256(library key, "card-token|v1|" + bytes 0-15 + UID)

Visitor pass: ``VP1`` + base32 (no padding) of kiosk number (2 bytes), visit number (4),
expiry in minutes since 2020-01-01 UTC (4) and the first 10 bytes of the HMAC: 35 characters,
QR alphanumeric mode, small enough for a version-3 code.

Refusal reasons (``TokenError.reason``): ``blank``, ``foreign``, ``version``, ``other_card``,
``tampered``, ``stale_generation``, ``expired``, ``malformed``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from library_core.errors import TokenError

TOKEN_SIZE = 48
MAGIC = b"LK"
VERSION = 1
_EPOCH_DAY = dt.date(2000, 1, 1)
_PASS_EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
PASS_PREFIX = "VP1"
_PASS_MAC_LEN = 10
PASS_LENGTH = len(PASS_PREFIX) + 32


@dataclass(frozen=True, slots=True)
class CardToken:
    card_no: str
    generation: int
    expires_on: dt.date


@dataclass(frozen=True, slots=True)
class VisitorPass:
    kiosk_no: int
    visit_no: int
    expires_at: dt.datetime


def _uid_tag(uid: bytes) -> bytes:
    return hashlib.sha256(uid).digest()[:2]


def _card_mac(key: bytes, header: bytes, uid: bytes) -> bytes:
    return hmac.new(key, b"card-token|v1|" + header + uid, hashlib.sha256).digest()


def encode_card_token(token: CardToken, uid: bytes, key: bytes) -> bytes:
    """Serialise and sign a token for the card with this UID. Returns 48 bytes."""
    if not token.card_no.isdigit() or len(token.card_no) > 14:
        raise ValueError(f"card number must be up to 14 digits: {token.card_no!r}")
    if not 0 <= token.generation < 1 << 16:
        raise ValueError("generation out of range")
    days = (token.expires_on - _EPOCH_DAY).days
    if not 0 <= days < 1 << 24:
        raise ValueError("expiry out of range")
    header = (
        MAGIC
        + bytes([VERSION])
        + int(token.card_no).to_bytes(6, "big")
        + token.generation.to_bytes(2, "big")
        + days.to_bytes(3, "big")
        + _uid_tag(uid)
    )
    return header + _card_mac(key, header, uid)


def decode_card_token(data: bytes, uid: bytes, key: bytes) -> CardToken:
    """Parse and verify a token read from the card with this UID.

    Raises TokenError with reason ``blank`` (all 00 or FF: a new card), ``foreign`` (not ours),
    ``version``, ``other_card`` (copied from another card), ``tampered`` (MAC mismatch).
    """
    if len(data) < TOKEN_SIZE:
        raise TokenError("malformed", f"token needs {TOKEN_SIZE} bytes, got {len(data)}")
    data = bytes(data[:TOKEN_SIZE])
    if data in (bytes(TOKEN_SIZE), b"\xff" * TOKEN_SIZE):
        raise TokenError("blank", "the card holds no token")
    if data[:2] != MAGIC:
        raise TokenError("foreign", "the card holds data that is not a library token")
    if data[2] != VERSION:
        raise TokenError("version", f"unknown token version {data[2]}")
    header, mac = data[:16], data[16:]
    if header[14:16] != _uid_tag(uid):
        raise TokenError("other_card", "the token was made for another card")
    if not hmac.compare_digest(mac, _card_mac(key, header, uid)):
        raise TokenError("tampered", "the token signature does not match")
    card_no = str(int.from_bytes(header[3:9], "big")).zfill(14)
    generation = int.from_bytes(header[9:11], "big")
    expires_on = _EPOCH_DAY + dt.timedelta(days=int.from_bytes(header[11:14], "big"))
    return CardToken(card_no=card_no, generation=generation, expires_on=expires_on)


def check_card_token(token: CardToken, *, current_generation: int, today: dt.date | None,
                     expires_on: dt.date | None = None) -> None:
    """Refuse a token of an older card generation than the record's (``stale_generation``: the
    card was replaced) or a card past its expiry (``expired``).

    ``expires_on`` is the record's expiry when the caller has the record (it wins over the date
    written on the card), else the token's own date counts; ``today=None`` skips the expiry check
    (renewal takes expired cards). Raises TokenError.
    """
    if token.generation < current_generation:
        raise TokenError("stale_generation", "this card was replaced by a newer one")
    expiry = token.expires_on if expires_on is None else expires_on
    if today is not None and expiry < today:
        raise TokenError("expired", f"card expired on {expiry.isoformat()}")


def _pass_mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"visitor-pass|v1|" + body, hashlib.sha256).digest()[:_PASS_MAC_LEN]


def encode_visitor_pass(vp: VisitorPass, key: bytes) -> str:
    minutes = int((vp.expires_at - _PASS_EPOCH).total_seconds() // 60)
    if not 0 <= minutes < 1 << 32 or not 0 <= vp.kiosk_no < 1 << 16 or not 0 <= vp.visit_no < 1 << 32:
        raise ValueError("visitor pass field out of range")
    body = vp.kiosk_no.to_bytes(2, "big") + vp.visit_no.to_bytes(4, "big") + minutes.to_bytes(4, "big")
    raw = body + _pass_mac(key, body)
    return PASS_PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=")


def decode_visitor_pass(text: str, key: bytes, *, now: dt.datetime | None = None) -> VisitorPass:
    """Verify a scanned pass. Raises TokenError: ``malformed``, ``tampered``, ``expired``."""
    if not text.startswith(PASS_PREFIX) or len(text) != PASS_LENGTH:
        raise TokenError("malformed", "not a visitor pass")
    encoded = text[len(PASS_PREFIX):]
    try:
        raw = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
    except (ValueError, base64.binascii.Error):  # type: ignore[attr-defined]
        raise TokenError("malformed", "visitor pass is not base32") from None
    if len(raw) != 10 + _PASS_MAC_LEN:
        raise TokenError("malformed", "visitor pass has the wrong length")
    body, mac = raw[:10], raw[10:]
    if not hmac.compare_digest(mac, _pass_mac(key, body)):
        raise TokenError("tampered", "visitor pass signature does not match")
    vp = VisitorPass(
        kiosk_no=int.from_bytes(body[:2], "big"),
        visit_no=int.from_bytes(body[2:6], "big"),
        expires_at=_PASS_EPOCH + dt.timedelta(minutes=int.from_bytes(body[6:10], "big")),
    )
    if now is not None and now > vp.expires_at:
        raise TokenError("expired", "visitor pass has expired")
    return vp

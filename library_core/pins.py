"""PINs: stored only as slow salted hashes (scrypt), compared in constant time; lockout rule."""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from library_core.errors import ValidationError

# scrypt cost: n=2**14, r=8, p=1 takes ~30-60 ms here; tests may pass a cheaper n.
DEFAULT_N = 1 << 14
MAX_ATTEMPTS = 5
_PIN_RE = re.compile(r"^\d{6}$")


def validate_pin(pin: str) -> str:
    """A reader or staff PIN is exactly 6 digits, not all the same digit and not 123456."""
    if not _PIN_RE.match(pin):
        raise ValidationError("pin.format", "PIN must be 6 digits")
    if len(set(pin)) == 1 or pin in ("123456", "654321"):
        raise ValidationError("pin.weak", "PIN is too easy to guess")
    return pin


def hash_pin(pin: str, *, n: int = DEFAULT_N, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return f"scrypt${n}$8$1${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            pin.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)

"""MIFARE Classic sector keys: the config parser, per-card key diversification and the trailer.

``mifare_key_bytes`` / ``parse_mifare_key`` are the one parser for keys written in config (12
hex digits, a 6-byte key): the config validation and every card reader driver call them, so a
key the config accepts is always one the reader can use.

Per-card keys. The token sector of a library card is locked with a key A (reads only) and a key
B (reads and writes data and trailer) that are different on every card: both are derived from
the card master key (a secret, like the library key: ``CARD_MASTER_KEY`` or
``secrets.card_master_key_file``, never in the repository) and the card's UID by
``diversify_key``. The derivation is the KDF in counter mode of NIST SP 800-108r1 (section 4.1)
with HMAC-SHA256 as the PRF, a 32-bit counter and L = 48 bits, so one HMAC call::

    key = HMAC-SHA256(master, [1]_32 || label || 0x00 || UID || [48]_32)[:6]
    label = b"library-kiosk MIFARE Classic key A" (or "... key B")

Why this one: it is a published, standard KDF built from the standard library's ``hmac`` (the
shared core takes no new dependency); HMAC is a PRF, so the keys of one card say nothing about
another card's keys or about the master. NXP AN10922 (AES-CMAC) was the other candidate, but it
needs a CMAC library and defines AES/3DES keys, not 6-byte Crypto1 keys, so the truncation would
have been our own step anyway. MIFARE Classic's Crypto1 is broken (a card's sector keys can be
recovered with a few minutes of work); what per-card keys buy is that a phone NFC app with the
transport key ``FFFFFFFFFFFF`` can neither read nor rewrite the token, and that cracking one card
opens only that card. Forging a token still needs the library key (the token's MAC).

Issue and re-key. A blank card has the transport key and the factory access bits. Writing a
token authenticates with the first key that works, in this order: the card's diversified key B,
the configured legacy key B, the transport key as key B, the transport key as key A (a factory
card's key B is readable, so it cannot authenticate). It writes the three token blocks, and
unless the card already had its diversified keys it then writes the sector trailer:
diversified key A, ``LIBRARY_ACCESS_BITS`` (data: key A reads, key B reads and writes; trailer:
key B writes keys and access bits, key A reads the access bits), diversified key B. It then
authenticates with the new key B and key A and reads the token back. The token goes first: a
card pulled between the two writes keeps its old keys and a token that binds nothing (the issue
failed and was rolled back), and is written again next time.

Cards issued before per-card keys (the legacy cards, locked with the one fixed key pair that was
in ``card_reader.key_a`` / ``key_b``): set that pair as ``card_reader.legacy_key_a`` /
``legacy_key_b``. Reading tries the diversified key A, then the legacy key A, then the transport
key; the first write to a legacy card (a renewal, a re-issue) re-keys it as above. Once every
legacy card has been renewed the legacy keys can be removed from config. The transport key itself
is refused in config outside demo mode (as a legacy key and as the master key): blank cards are
recognised with it, but it is never a library key.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Literal

from library_core.errors import ConfigError

KEY_SIZE = 6
KEY_RULE = "must be 12 hex digits (a 6-byte MIFARE key)"
TRANSPORT_KEY = b"\xff" * KEY_SIZE
TRANSPORT_KEY_RULE = ("is the MIFARE transport key FFFFFFFFFFFF (every blank card and phone NFC "
                      "app knows it): refused outside demo mode")
MIN_MASTER_KEY_BYTES = 16
# Access bytes 6-9 of the token sector's trailer, with (C1, C2, C3) = (1, 0, 0) for the three
# data blocks (key A or B reads, key B writes) and (0, 1, 1) for the trailer (key B writes key A,
# the access bits and key B; key A or B reads the access bits; key B is never readable, so it
# can authenticate); byte 9 is the general-purpose byte 0x69.
LIBRARY_ACCESS_BITS = bytes.fromhex("78778869")
KeyRole = Literal["A", "B"]
KeyScheme = Literal["card", "legacy", "transport"]
_LABELS: dict[KeyRole, bytes] = {
    "A": b"library-kiosk MIFARE Classic key A",
    "B": b"library-kiosk MIFARE Classic key B",
}


def mifare_key_bytes(value: str) -> bytes:
    """The 6 key bytes of ``value`` (hex, spaces allowed). Raises ValueError naming the rule."""
    try:
        raw = bytes.fromhex(value)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != KEY_SIZE:
        raise ValueError(KEY_RULE)
    return raw


def parse_mifare_key(value: str, config_key: str) -> bytes:
    """The 6 key bytes of ``value``. Raises ConfigError naming ``config_key`` (e.g. ``card_reader.key_a``)."""
    try:
        return mifare_key_bytes(value)
    except ValueError:
        raise ConfigError(config_key, KEY_RULE) from None


def is_transport_key(value: str | bytes) -> bool:
    """True when ``value`` (bytes, or hex text with spaces allowed) is only FF bytes."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            return False
    return bool(value) and value == b"\xff" * len(value)


def diversify_key(master: bytes, uid: bytes, role: KeyRole) -> bytes:
    """The card's 6-byte key ``role`` (A or B): NIST SP 800-108r1 counter-mode KDF, HMAC-SHA256.

    Raises ValueError for an empty master key or a UID that is not 4, 7 or 10 bytes.
    """
    if not master:
        raise ValueError("no card master key")
    if len(uid) not in (4, 7, 10):
        raise ValueError(f"a MIFARE UID has 4, 7 or 10 bytes, got {len(uid)}")
    fixed = _LABELS[role] + b"\x00" + uid + struct.pack(">I", KEY_SIZE * 8)
    return hmac.new(master, struct.pack(">I", 1) + fixed, hashlib.sha256).digest()[:KEY_SIZE]


@dataclass(frozen=True, slots=True)
class SectorKeys:
    """One card's key A (reads) and key B (writes)."""

    key_a: bytes
    key_b: bytes


def library_trailer(keys: SectorKeys) -> bytes:
    """The 16-byte sector trailer: key A, ``LIBRARY_ACCESS_BITS``, key B."""
    return keys.key_a + LIBRARY_ACCESS_BITS + keys.key_b


@dataclass(frozen=True, slots=True)
class CardKeys:
    """The kiosk's keys for the token sector: the master key and the legacy fixed pair, if any."""

    master: bytes
    legacy_a: bytes | None = None
    legacy_b: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.master) < MIN_MASTER_KEY_BYTES:
            raise ConfigError("CARD_MASTER_KEY", f"must be at least {MIN_MASTER_KEY_BYTES} bytes")

    @classmethod
    def from_config(cls, master: bytes, legacy_key_a: str, legacy_key_b: str) -> CardKeys:
        """Keys from the config texts (``""``: no legacy key). Raises ConfigError naming the key."""
        legacy_a = parse_mifare_key(legacy_key_a, "card_reader.legacy_key_a") if legacy_key_a else None
        legacy_b = parse_mifare_key(legacy_key_b, "card_reader.legacy_key_b") if legacy_key_b else None
        return cls(master, legacy_a, legacy_b)

    def for_card(self, uid: bytes) -> SectorKeys:
        """The diversified keys of the card with ``uid``."""
        return SectorKeys(diversify_key(self.master, uid, "A"), diversify_key(self.master, uid, "B"))

    def read_keys(self, uid: bytes) -> list[tuple[KeyScheme, bytes]]:
        """Key A candidates, in the order to try them: the card's own, legacy, transport."""
        found: list[tuple[KeyScheme, bytes]] = [("card", self.for_card(uid).key_a)]
        if self.legacy_a is not None:
            found.append(("legacy", self.legacy_a))
        found.append(("transport", TRANSPORT_KEY))
        return found

    def write_keys(self, uid: bytes) -> list[tuple[KeyScheme, bytes, KeyRole]]:
        """(scheme, key, role) to authenticate a write with, in the order to try them."""
        found: list[tuple[KeyScheme, bytes, KeyRole]] = [("card", self.for_card(uid).key_b, "B")]
        if self.legacy_b is not None:
            found.append(("legacy", self.legacy_b, "B"))
        found += [("transport", TRANSPORT_KEY, "B"), ("transport", TRANSPORT_KEY, "A")]
        return found


__all__ = [
    "KEY_RULE",
    "KEY_SIZE",
    "LIBRARY_ACCESS_BITS",
    "MIN_MASTER_KEY_BYTES",
    "TRANSPORT_KEY",
    "TRANSPORT_KEY_RULE",
    "CardKeys",
    "KeyRole",
    "KeyScheme",
    "SectorKeys",
    "diversify_key",
    "is_transport_key",
    "library_trailer",
    "mifare_key_bytes",
    "parse_mifare_key",
]

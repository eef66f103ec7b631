"""MIFARE Classic sector keys as written in config: 12 hex digits, a 6-byte key.

The one parser for ``card_reader.key_a`` / ``key_b``: the config validation and every card
reader driver call it, so a key the config accepts is always one the reader can use.
"""

from __future__ import annotations

from library_core.errors import ConfigError

KEY_SIZE = 6
KEY_RULE = "must be 12 hex digits (a 6-byte MIFARE key)"


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

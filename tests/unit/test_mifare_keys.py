"""MIFARE keys (library_core.mifare): the one config parser, the per-card key diversification
(NIST SP 800-108 counter mode, HMAC-SHA256) checked against vectors computed here by hand, and
the transport key FFFFFFFFFFFF refused at config load outside demo mode."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

from config.settings import (
    DEMO_CARD_MASTER_KEY,
    CardReaderSection,
    demo_settings_path,
    load_settings,
)
from devices.factory import build_card_reader
from devices.simulated_card_reader import SimulatedCardReader
from library_core.errors import ConfigError
from library_core.mifare import (
    KEY_RULE,
    LIBRARY_ACCESS_BITS,
    TRANSPORT_KEY,
    CardKeys,
    diversify_key,
    library_trailer,
    mifare_key_bytes,
    parse_mifare_key,
)
from tests.support.virtual_card import LIBRARY_ACCESS, decode_access_bits, encode_access_bits

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["XYZ", "FFFFFFFFFF", "FFFFFFFFFFFFFF", "GGGGGGGGGGGG", "0x00112233445",
           "１２３４５６７８９０ＡＢ", "FF\x00FFFFFFFFFF", "FFFFFFFFFFFF; DROP"]
MASTER = b"unit-test-card-master-key-0123456789"
LIBRARY_KEY = "unit-test-library-key-0123456789"


# ---- the parser ------------------------------------------------------------------------------


def _config_with(tmp_path: Path, card_reader: str = "", *, mode: str = "demo",
                 secrets: str = "") -> Path:
    """The demo config with extra ``[card_reader]`` lines, in ``mode`` (production: https)."""
    demo = demo_settings_path()
    shutil.copy(demo.with_name("fees.toml"), tmp_path / "fees.toml")
    text = demo.read_text(encoding="utf-8")
    text = text.replace('[card_reader]\ntype = "simulated"\n',
                        f'[card_reader]\ntype = "simulated"\n{card_reader}', 1)
    text = text.replace('mode = "demo"', f'mode = "{mode}"', 1)
    if mode != "demo":
        text = text.replace('url = "http://', 'url = "https://', 1)
        text = text.replace('[payment]\ntype = "simulated"', '[payment]\ntype = "none"', 1)
    if secrets:
        text += f"\n[secrets]\n{secrets}\n"
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _legacy(key_a: str) -> str:
    return f"legacy_key_a = {json.dumps(key_a)}\n"  # a TOML basic string: JSON's escapes are TOML's


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_key_is_refused_alike_by_config_and_reader(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as by_config:
        load_settings(_config_with(tmp_path, _legacy(value)), env={})
    with pytest.raises(ConfigError) as by_reader:
        SimulatedCardReader(CardReaderSection(type="simulated", legacy_key_a=value))
    assert by_config.value.key == by_reader.value.key == "card_reader.legacy_key_a"
    assert by_config.value.detail == by_reader.value.detail == f"card_reader.legacy_key_a: {KEY_RULE}"
    with pytest.raises(ValueError, match="12 hex digits"):
        mifare_key_bytes(value)


def test_a_good_key_gives_the_same_bytes_to_config_and_reader(tmp_path: Path) -> None:
    settings = load_settings(_config_with(tmp_path, _legacy("a1 a2 a3 a4 a5 a6")), env={})
    reader = SimulatedCardReader(settings.card_reader, master_key=settings.card_master_key)
    assert reader.keys.legacy_a == bytes.fromhex("A1A2A3A4A5A6") == parse_mifare_key(
        settings.card_reader.legacy_key_a, "card_reader.legacy_key_a")
    assert reader.keys.legacy_b is None  # "" = no legacy key


def test_the_key_rule_is_written_once() -> None:
    sources = [ROOT / "config" / "settings.py", *sorted((ROOT / "devices").glob("*.py"))]
    writing_the_rule = [p.name for p in sources if "MIFARE key)" in p.read_text(encoding="utf-8")]
    assert writing_the_rule == []
    users = {p.name for p in sources if "from library_core.mifare import" in p.read_text(encoding="utf-8")}
    assert {"settings.py", "simulated_card_reader.py", "pcsc_card_reader.py"} <= users


# ---- diversification -------------------------------------------------------------------------


def hmac_sha256_by_hand(key: bytes, message: bytes) -> bytes:
    """RFC 2104 HMAC with SHA-256 from hashlib alone (not the ``hmac`` module the code uses)."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def sp800_108_by_hand(master: bytes, uid: bytes, role: str) -> bytes:
    """SP 800-108r1 KDF in counter mode: PRF(K, [i]_32 || Label || 0x00 || Context || [L]_32)."""
    label = b"library-kiosk MIFARE Classic key " + role.encode()
    fixed = label + b"\x00" + uid + struct.pack(">I", 48)  # L = 48 bits: one PRF block, truncated
    return hmac_sha256_by_hand(master, struct.pack(">I", 1) + fixed)[:6]


def test_the_hand_made_hmac_matches_rfc_4231() -> None:
    # RFC 4231 test case 2: the check that the hand-made HMAC below is HMAC-SHA256
    assert hmac_sha256_by_hand(b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


# Computed once with sp800_108_by_hand; pinned so that a change of derivation (which would lock
# every issued card out) cannot pass unnoticed.
VECTORS = [
    ("04A1B2C3", "A", "22E5F4276199"),
    ("04A1B2C3", "B", "65C5D0C8FE36"),
    ("04D5E6F7", "A", "E70D975CE723"),
    ("04D5E6F7", "B", "64DA090F4F8F"),
    ("04112233445566", "A", "A2BE2195B39F"),  # a 7-byte UID
    ("04112233445566", "B", "A15C7D8BB9C7"),
]


@pytest.mark.parametrize(("uid", "role", "key"), VECTORS)
def test_diversified_keys_match_sp800_108_computed_by_hand(uid: str, role: str, key: str) -> None:
    by_hand = sp800_108_by_hand(MASTER, bytes.fromhex(uid), role)
    assert by_hand == bytes.fromhex(key)
    assert diversify_key(MASTER, bytes.fromhex(uid), "A" if role == "A" else "B") == by_hand


def test_every_card_and_every_role_gets_its_own_key() -> None:
    keys = CardKeys(MASTER)
    uids = [bytes.fromhex(u) for u in ("04A1B2C3", "04A1B2C2", "04D5E6F7", "04112233445566")]
    derived = [k for uid in uids for k in (keys.for_card(uid).key_a, keys.for_card(uid).key_b)]
    assert len(set(derived)) == len(derived)
    assert TRANSPORT_KEY not in derived
    other_master = CardKeys(b"another-card-master-key-0123456789")
    assert other_master.for_card(uids[0]) != keys.for_card(uids[0])


def test_diversification_refuses_what_is_no_uid_or_no_master() -> None:
    with pytest.raises(ValueError):
        diversify_key(MASTER, b"\x04\x01", "A")
    with pytest.raises(ValueError):
        diversify_key(b"", bytes(4), "A")
    with pytest.raises(ConfigError) as short:
        CardKeys(b"short")
    assert short.value.key == "CARD_MASTER_KEY"


def test_keys_are_tried_own_then_legacy_then_transport() -> None:
    uid = bytes.fromhex("04A1B2C3")
    keys = CardKeys.from_config(MASTER, "A1A2A3A4A5A6", "B1B2B3B4B5B6")
    own = keys.for_card(uid)
    assert keys.read_keys(uid) == [("card", own.key_a), ("legacy", bytes.fromhex("A1A2A3A4A5A6")),
                                   ("transport", TRANSPORT_KEY)]
    assert keys.write_keys(uid) == [("card", own.key_b, "B"),
                                    ("legacy", bytes.fromhex("B1B2B3B4B5B6"), "B"),
                                    ("transport", TRANSPORT_KEY, "B"), ("transport", TRANSPORT_KEY, "A")]


def test_the_trailer_holds_the_library_access_conditions_of_the_virtual_card() -> None:
    own = CardKeys(MASTER).for_card(bytes.fromhex("04A1B2C3"))
    trailer = library_trailer(own)
    assert trailer[:6] == own.key_a and trailer[10:] == own.key_b
    # the virtual card's own encoder/decoder, written from the MIFARE data sheet
    assert trailer[6:10] == LIBRARY_ACCESS_BITS == encode_access_bits(LIBRARY_ACCESS)
    assert decode_access_bits(trailer[6:9]) == LIBRARY_ACCESS


# ---- the transport key and the master key at config load -------------------------------------


PRODUCTION_ENV = {"LIBRARY_KEY": LIBRARY_KEY, "CARD_MASTER_KEY": MASTER.decode()}


@pytest.mark.parametrize("line", [
    'legacy_key_a = "FFFFFFFFFFFF"', 'legacy_key_b = "ffffffffffff"',
    'legacy_key_a = "FF FF FF FF FF FF"',
])
def test_the_transport_key_as_a_legacy_key_is_refused_outside_demo_mode(
    tmp_path: Path, line: str,
) -> None:
    cfg = _config_with(tmp_path, line + "\n", mode="production")
    with pytest.raises(ConfigError) as refused:
        load_settings(cfg, env=PRODUCTION_ENV)
    assert refused.value.key == "card_reader." + line.split(" = ")[0]
    assert "transport key FFFFFFFFFFFF" in refused.value.detail
    assert "outside demo mode" in refused.value.detail
    # the same config in demo mode loads (the demo may play with blank-card keys)
    demo = load_settings(_config_with(tmp_path, line + "\n"), env={})
    assert demo.card_reader.type == "simulated"


@pytest.mark.parametrize("master", ["FFFFFFFFFFFF", "FF" * 16, "ff ff ff ff ff ff"])
def test_the_transport_key_as_the_master_key_is_refused_outside_demo_mode(
    tmp_path: Path, master: str,
) -> None:
    cfg = _config_with(tmp_path, mode="production")
    with pytest.raises(ConfigError) as refused:
        load_settings(cfg, env={**PRODUCTION_ENV, "CARD_MASTER_KEY": master})
    assert refused.value.key == "CARD_MASTER_KEY"
    assert "transport key FFFFFFFFFFFF" in refused.value.detail


@pytest.mark.parametrize(("master", "detail"), [
    (DEMO_CARD_MASTER_KEY, "demo placeholder key is refused outside demo mode"),
    ("too-short", "at least 16 bytes"),
    (LIBRARY_KEY, "must not be the library key"),
])
def test_a_weak_master_key_is_refused_outside_demo_mode(tmp_path: Path, master: str,
                                                        detail: str) -> None:
    cfg = _config_with(tmp_path, mode="production")
    with pytest.raises(ConfigError) as refused:
        load_settings(cfg, env={**PRODUCTION_ENV, "CARD_MASTER_KEY": master})
    assert refused.value.key == "CARD_MASTER_KEY" and detail in refused.value.detail


def test_a_pcsc_reader_needs_a_master_key_outside_demo_mode(tmp_path: Path) -> None:
    pcsc = _config_with(tmp_path, mode="production").read_text(encoding="utf-8").replace(
        '[card_reader]\ntype = "simulated"', '[card_reader]\ntype = "pcsc"', 1)
    cfg = tmp_path / "pcsc.toml"
    cfg.write_text(pcsc, encoding="utf-8")
    with pytest.raises(ConfigError) as missing:
        load_settings(cfg, env={"LIBRARY_KEY": LIBRARY_KEY})
    assert missing.value.key == "CARD_MASTER_KEY" and "no card master key" in missing.value.detail
    with pytest.raises(ConfigError) as factory:
        build_card_reader(CardReaderSection(type="pcsc"))  # no master key handed to it
    assert factory.value.key == "CARD_MASTER_KEY"
    loaded = load_settings(cfg, env=PRODUCTION_ENV)
    assert loaded.card_master_key == MASTER


def test_the_master_key_comes_from_its_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "card-master.key"
    secret.write_text(MASTER.decode() + "\n", encoding="utf-8")
    cfg = _config_with(tmp_path, mode="production", secrets=f'card_master_key_file = "{secret}"')
    loaded = load_settings(cfg, env={"LIBRARY_KEY": LIBRARY_KEY})
    assert loaded.card_master_key == MASTER
    secret.unlink()
    with pytest.raises(ConfigError) as unreadable:
        load_settings(cfg, env={"LIBRARY_KEY": LIBRARY_KEY})
    assert unreadable.value.key == "secrets.card_master_key_file"


def test_demo_mode_uses_the_demo_master_key_and_the_repository_holds_no_other() -> None:
    demo = load_settings(demo_settings_path(), env={})
    assert demo.card_master_key == DEMO_CARD_MASTER_KEY.encode()
    for path in sorted((ROOT / "config").glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        assert "CARD_MASTER_KEY =" not in text and "card_master_key =" not in text

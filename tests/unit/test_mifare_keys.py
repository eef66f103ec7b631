"""MIFARE sector keys are parsed once (library_core.mifare): the config loader and every card
reader driver refuse the same hostile keys with the same message naming the key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from config.settings import CardReaderSection, demo_settings_path, load_settings
from devices.simulated_card_reader import SimulatedCardReader
from library_core.errors import ConfigError
from library_core.mifare import KEY_RULE, mifare_key_bytes, parse_mifare_key

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["", "XYZ", "FFFFFFFFFF", "FFFFFFFFFFFFFF", "GGGGGGGGGGGG", "0x00112233445",
           "１２３４５６７８９０ＡＢ", "FF\x00FFFFFFFFFF", "FFFFFFFFFFFF; DROP"]


def _config_with(tmp_path: Path, key_a: str) -> Path:
    demo = demo_settings_path()
    shutil.copy(demo.with_name("fees.toml"), tmp_path / "fees.toml")
    text = demo.read_text(encoding="utf-8")
    quoted = json.dumps(key_a)  # a TOML basic string: JSON's escapes are TOML's
    text = text.replace('[card_reader]\ntype = "simulated"\n',
                        f'[card_reader]\ntype = "simulated"\nkey_a = {quoted}\n', 1)
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_key_is_refused_alike_by_config_and_reader(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as by_config:
        load_settings(_config_with(tmp_path, value), env={})
    with pytest.raises(ConfigError) as by_reader:
        SimulatedCardReader(CardReaderSection(type="simulated", key_a=value))
    assert by_config.value.key == by_reader.value.key == "card_reader.key_a"
    assert by_config.value.detail == by_reader.value.detail == f"card_reader.key_a: {KEY_RULE}"
    with pytest.raises(ValueError, match="12 hex digits"):
        mifare_key_bytes(value)


def test_a_good_key_gives_the_same_bytes_to_config_and_reader(tmp_path: Path) -> None:
    settings = load_settings(_config_with(tmp_path, "a1 a2 a3 a4 a5 a6"), env={})
    reader = SimulatedCardReader(settings.card_reader)
    assert reader.key_a == bytes.fromhex("A1A2A3A4A5A6") == parse_mifare_key(
        settings.card_reader.key_a, "card_reader.key_a")


def test_the_key_rule_is_written_once() -> None:
    sources = [ROOT / "config" / "settings.py", *sorted((ROOT / "devices").glob("*.py"))]
    writing_the_rule = [p.name for p in sources if "MIFARE key" in p.read_text(encoding="utf-8")]
    assert writing_the_rule == []
    users = {p.name for p in sources if "from library_core.mifare import" in p.read_text(encoding="utf-8")}
    assert {"settings.py", "simulated_card_reader.py", "pcsc_card_reader.py"} <= users

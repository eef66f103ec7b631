"""kiosk.toml is checked by typed pydantic models: a bad value names its key, the message says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from config.settings import (
    ConfigFile,
    PrinterSection,
    demo_settings_path,
    load_settings,
    parse_config,
)
from library_core.errors import ConfigError

CASES = [
    ("[printer]\npaper_width_mm = 70", "printer.paper_width_mm", "must be one of 58, 80, got 70"),
    ('[printer]\npaper_width_mm = "80"', "printer.paper_width_mm", "got '80'"),
    ("[kiosk]\nfullscreen = 1", "kiosk.fullscreen", "must be true or false, got 1"),
    ("[kiosk]\nkiosk_no = true", "kiosk.kiosk_no", "must be an integer, got True"),
    ("[kiosk]\nkiosk_no = 70000", "kiosk.kiosk_no", "must be between 1 and 65535"),
    ('[kiosk]\nid = "X1"', "kiosk.id", "must look like K01, got 'X1'"),
    ('[kiosk]\nopening_time = "9am"', "kiosk.opening_time", "must be HH:MM, got '9am'"),
    ("[kiosk]\nidle_warning_s = 90", "kiosk.idle_warning_s", "below idle_reset_s"),
    ("[kiosk]\nwindow_size = [1, 2, 3]", "kiosk.window_size", "must be a list of 2 values"),
    ('[kiosk]\nwindow_size = [1, "2"]', "kiosk.window_size", "must be an integer, got '2'"),
    ("[kiosk]\nbogus = 1", "kiosk.bogus", "unknown key"),
    ("[bogus]\nx = 1", "bogus", "unknown section"),
    ("kiosk = 3", "kiosk", "must be a table"),
    ('[card_reader]\nlegacy_key_a = "XYZ"', "card_reader.legacy_key_a", "must be 12 hex digits"),
    # the fixed pair of old configs is gone (cards have their own keys): named, not ignored
    ('[card_reader]\nkey_a = "A1A2A3A4A5A6"', "card_reader.key_a", "unknown key"),
    ('[card_reader]\npoll_interval_s = "1"', "card_reader.poll_interval_s", "must be a number"),
    ("[scanner]\ncamera_index = -1", "scanner.camera_index", "must be 0 or more"),
    ("[printer]\ntimeout_s = 31", "printer.timeout_s", "between 0 and 30 seconds"),
    ('[server]\nurl = "ftp://x"', "server.url", "must start with http:// or https://"),
    ('[server]\nverify_tls = "yes"', "server.verify_tls", "must be true or false, got 'yes'"),
    ("departments = [1]", "departments[0]", "must be a table with code, zh_CN and en"),
]


@pytest.mark.parametrize(("toml", "key", "detail"), CASES, ids=[c[1] + ":" + c[0] for c in CASES])
def test_a_bad_value_names_its_key_and_says_why(tmp_path: Path, toml: str, key: str,
                                                detail: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"LIBRARY_KEY": "k" * 32})
    assert info.value.key == key
    assert str(info.value).startswith(f"error.config: {key}: ") and detail in str(info.value)


def test_the_sections_are_pydantic_models_that_refuse_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(PrinterSection).validate_python({"paper_width_mm": 80, "colour": "red"})
    assert TypeAdapter(PrinterSection).validate_python({"paper_width_mm": 58}).paper_width_mm == 58
    schema = ConfigFile.model_json_schema()
    assert {"kiosk", "printer", "server", "departments"} <= set(schema["properties"])


def test_the_demo_config_loads_into_the_same_attributes() -> None:
    settings = load_settings(demo_settings_path(), env={})
    assert settings.kiosk.id and settings.fees is not None and settings.departments
    assert parse_config({"kiosk": {"window_size": [800, 600]}}).kiosk.window_size == (800, 600)

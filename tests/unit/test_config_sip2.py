"""``[circulation]`` (config/sip2.py): defaults, a complete SIP2 set-up, and every bad value
refused with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import parse_config
from config.sip2 import CirculationSection, check_circulation
from library_core.errors import ConfigError

GOOD = {"adapter": "sip2", "host": "ils.example.org", "login_user": "kiosk01",
        "encoding": "gb18030"}


def test_default_is_our_record_server() -> None:
    section = parse_config({}).circulation
    assert section.adapter == "record_server" and section.timeout_s == 3.0
    assert check_circulation(section, demo=False, config_dir=Path("."), env={}) == section


def test_sip2_password_from_environment_or_file(tmp_path: Path) -> None:
    section = parse_config({"circulation": GOOD}).circulation
    from_env = check_circulation(section, demo=False, config_dir=tmp_path,
                                 env={"SIP2_PASSWORD": "s3cret"})
    assert from_env.password == "s3cret" and from_env.encoding == "gb18030"
    secret = tmp_path / "sip2-password"
    secret.write_text("from-file\n", encoding="utf-8")
    with_file = CirculationSection(**{**GOOD, "password_file": str(secret)})
    assert check_circulation(with_file, demo=False, config_dir=tmp_path, env={}).password == \
        "from-file"


@pytest.mark.parametrize(("raw", "key"), [
    ({"adapter": "koha"}, "circulation.adapter"),
    ({"encoding": "latin-1"}, "circulation.encoding"),
    ({"port": 70000}, "circulation.port"),
    ({"timeout_s": 0.0}, "circulation.timeout_s"),
    ({"offline_policy": "always"}, "circulation.offline_policy"),
    ({"offline_cap": -1}, "circulation.offline_cap"),
    ({"checksum_lenient": "yes"}, "circulation.checksum_lenient"),
    ({"pasword": "x"}, "circulation.pasword"),
])
def test_bad_values_refused_naming_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"circulation": raw})
    assert key in str(err.value)


@pytest.mark.parametrize(("changes", "env", "key"), [
    ({"password": "in-the-toml"}, {"SIP2_PASSWORD": "x"}, "circulation.password"),
    ({"host": ""}, {"SIP2_PASSWORD": "x"}, "circulation.host"),
    ({"tls": False}, {"SIP2_PASSWORD": "x"}, "circulation.tls"),
    ({"verify_tls": False}, {"SIP2_PASSWORD": "x"}, "circulation.verify_tls"),
    ({}, {}, "SIP2_PASSWORD"),
    ({"password_file": "/nonexistent/sip2"}, {}, "circulation.password_file"),
])
def test_incomplete_or_unsafe_sip2_refused(changes: dict[str, object], env: dict[str, str],
                                          key: str) -> None:
    section = CirculationSection(**{**GOOD, **changes})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err:
        check_circulation(section, demo=False, config_dir=Path("."), env=env)
    assert key in str(err.value)


def test_plain_tcp_allowed_in_demo_mode() -> None:
    section = CirculationSection(**{**GOOD, "tls": False})  # type: ignore[arg-type]
    assert not check_circulation(section, demo=True, config_dir=Path("."),
                                 env={"SIP2_PASSWORD": "x"}).tls

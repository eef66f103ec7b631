"""The kiosk's transport rule in ``kiosk.toml``: outside demo mode the record server is
``https://`` and verified (``server.url``, ``server.verify_tls`` named when not); the demo keeps
its loopback ``http://``; ``server.ca_file`` must be a readable PEM CA file, taken relative to
the config file's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import CONFIG_DIR, demo_settings_path, load_settings
from library_core.errors import ConfigError

KEY = {"LIBRARY_KEY": "k" * 32}


def _config(tmp_path: Path, server: str, mode: str = "production") -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[kiosk]\nmode = "{mode}"\n[server]\n{server}\n'
                    f'[fees]\nfile = "{CONFIG_DIR / "fees.toml"}"\n', encoding="utf-8")
    return path


REFUSED = [
    ('url = "http://records.example"', "server.url",
     "must start with https:// outside demo mode, got 'http://records.example'"),
    ('url = "http://127.0.0.1:8080"', "server.url", "must start with https:// outside demo mode"),
    ('url = "http://localhost:8080"', "server.url", "must start with https:// outside demo mode"),
    ("", "server.url", "got 'http://127.0.0.1:8080'"),  # the default is no production URL
    ('url = "https://records.example"\nverify_tls = false', "server.verify_tls",
     "must be true outside demo mode"),
    ('url = "https://records.example"\nca_file = "missing.pem"', "server.ca_file",
     "missing.pem: No such file or directory"),
    ('url = "https://records.example"\nca_file = "kiosk.toml"', "server.ca_file",
     "kiosk.toml holds no PEM CA certificate"),
    ('url = "https://records.example"\nca_file = "."', "server.ca_file", "Is a directory"),
]


@pytest.mark.parametrize(("server", "key", "detail"), REFUSED,
                         ids=[r[0] or "default" for r in REFUSED])
def test_production_refuses_plain_or_unverified_transport(tmp_path: Path, server: str, key: str,
                                                         detail: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_config(tmp_path, server), env=KEY)
    assert info.value.key == key
    assert str(info.value).startswith(f"error.config: {key}: ") and detail in str(info.value)


def test_demo_mode_keeps_its_loopback_http() -> None:
    settings = load_settings(demo_settings_path(), env={})
    assert settings.kiosk.mode == "demo"
    assert settings.server.url.startswith("http://127.0.0.1:")


def test_demo_mode_may_turn_verification_off(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, 'url = "http://127.0.0.1:9"\nverify_tls = false',
                                     mode="demo"), env={})
    assert settings.server.verify_tls is False


def test_https_with_a_relative_ca_file_loads_it_from_the_config_folder(tmp_path: Path) -> None:
    from tests.support.tls import make_ca

    ca = make_ca(tmp_path / "pki")
    settings = load_settings(_config(tmp_path, 'url = "https://records.example"\n'
                                               'ca_file = "pki/ca.pem"'), env=KEY)
    assert settings.server.ca_file == str(ca.pem) and Path(settings.server.ca_file).is_absolute()
    assert settings.server.url == "https://records.example" and settings.server.verify_tls

"""``[payment]``: the simulator only in demo mode (like the placeholder key), a real gateway
only with every merchant credential from its file; each refusal names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import CONFIG_DIR, demo_settings_path, load_settings
from library_core.errors import ConfigError

KEY = {"LIBRARY_KEY": "payment-config-test-key-0123456789"}


def _config(tmp_path: Path, payment: str, mode: str = "production") -> Path:
    (tmp_path / "fees.toml").write_bytes((CONFIG_DIR / "fees.toml").read_bytes())
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[kiosk]\nmode = "{mode}"\n[server]\nurl = "https://records.example"\n'
                    f"{payment}", encoding="utf-8")
    return path


def _refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as refused:
        load_settings(path, env=KEY)
    return refused.value


def test_the_simulator_is_refused_outside_demo_mode(tmp_path: Path) -> None:
    err = _refused(_config(tmp_path, '[payment]\ntype = "simulated"\n'))
    assert err.key == "payment.type" and "refused outside demo mode" in str(err)


def test_demo_mode_keeps_the_simulator_and_production_defaults_to_none(tmp_path: Path) -> None:
    assert load_settings(demo_settings_path(), env={}).payment.type == "simulated"
    assert load_settings(_config(tmp_path, ""), env=KEY).payment.type == "none"


def _wechat(tmp_path: Path, key: str | None = "k" * 32, cert: bool = True) -> str:
    lines = ['[payment]\ntype = "wechat"\n[payment.wechat]\nappid = "wx1"\nmch_id = "1900"\n']
    if key is not None:
        (tmp_path / "api_key").write_text(key)
        lines.append('api_key_file = "api_key"\n')
    if cert:
        (tmp_path / "cert.pem").write_text("cert")
        (tmp_path / "key.pem").write_text("key")
        lines.append('cert_file = "cert.pem"\nkey_file = "key.pem"\n')
    return "".join(lines)


def test_wechat_needs_its_api_key_and_client_certificate_from_files(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, _wechat(tmp_path)), env=KEY)
    assert settings.payment_secrets.wechat_api_key == "k" * 32
    assert settings.payment.wechat.cert_file == str(tmp_path / "cert.pem")
    assert "k" * 32 not in repr(settings)  # secrets stay out of logs
    assert _refused(_config(tmp_path, _wechat(tmp_path, key=None))).key == \
        "payment.wechat.api_key_file"
    assert _refused(_config(tmp_path, _wechat(tmp_path, key="short"))).key == \
        "payment.wechat.api_key_file"
    assert _refused(_config(tmp_path, _wechat(tmp_path, cert=False))).key == \
        "payment.wechat.cert_file"


def test_alipay_keys_must_be_pem_and_urls_https(tmp_path: Path) -> None:
    (tmp_path / "app.pem").write_text("not a key")
    (tmp_path / "ali.pem").write_text("-----BEGIN PUBLIC KEY-----\n")
    body = ('[payment]\ntype = "alipay"\n[payment.alipay]\napp_id = "2021"\n'
            'app_private_key_file = "app.pem"\nalipay_public_key_file = "ali.pem"\n')
    assert _refused(_config(tmp_path, body)).key == "payment.alipay.app_private_key_file"
    plain = body + 'gateway_url = "http://openapi.alipay.com/gateway.do"\n'
    assert _refused(_config(tmp_path, plain)).key.startswith("payment.alipay.gateway_url")

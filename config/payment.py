"""The ``[payment]`` section: which gateway takes payment codes, and its merchant credentials.

``type`` is ``none`` (no mobile payments: cash at the desk only; the default), ``wechat``
(WeChat Pay 付款码支付, API v2), ``alipay`` (Alipay 当面付 条码支付) or ``simulated`` (the demo's
stand-in, refused outside demo mode like the placeholder library key). Merchant secrets (the
WeChat API key, the API client certificate and key, the Alipay app private key and Alipay's
public key) are read from files named here, kept outside the repository; never from the TOML.

``check_payment`` runs at load: it refuses a missing credential or a simulated gateway in
production and returns the section with the secret files read (``PaymentSecrets``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, StrictFloat, StrictStr, with_config

from library_core.errors import ConfigError

_SECTION = ConfigDict(extra="forbid")


def _https_or_loopback(value: str) -> str:
    if not (value.startswith("https://") or value.startswith("http://127.0.0.1")):
        raise ValueError(f"must start with https:// (or http://127.0.0.1 for tests), got {value!r}")
    return value.rstrip("/")


def _positive(value: float) -> float:
    if not 0 < value <= 600:
        raise ValueError(f"must be between 0 and 600 seconds, got {value!r}")
    return value


BaseUrl = Annotated[StrictStr, AfterValidator(_https_or_loopback)]
Seconds = Annotated[StrictFloat, AfterValidator(_positive)]


@with_config(_SECTION)
@dataclass(frozen=True)
class WechatSection:
    """WeChat Pay v2 merchant: ``appid``, ``mch_id``; the API key and the API client certificate
    (``apiclient_cert.pem`` / ``apiclient_key.pem``, needed by reverse and refund) from files."""

    appid: StrictStr = ""
    mch_id: StrictStr = ""
    sign_type: Literal["HMAC-SHA256", "MD5"] = "HMAC-SHA256"
    base_url: BaseUrl = "https://api.mch.weixin.qq.com"
    api_key_file: StrictStr = ""
    cert_file: StrictStr = ""
    key_file: StrictStr = ""
    ca_file: StrictStr = ""  # tests: the emulator's CA; "" = the system's


@with_config(_SECTION)
@dataclass(frozen=True)
class AlipaySection:
    """Alipay open platform app: ``app_id``; the app's RSA private key and Alipay's public key
    (both PEM) from files."""

    app_id: StrictStr = ""
    gateway_url: BaseUrl = "https://openapi.alipay.com/gateway.do"
    app_private_key_file: StrictStr = ""
    alipay_public_key_file: StrictStr = ""
    ca_file: StrictStr = ""


@with_config(_SECTION)
@dataclass(frozen=True)
class PaymentSection:
    type: Literal["none", "simulated", "wechat", "alipay"] = "none"
    simulated_refuse_suffix: StrictStr = "0000"
    wait_s: Seconds = 30.0  # "confirm on your phone": queried this long, then reversed
    query_interval_s: Seconds = 2.0
    request_timeout_s: Seconds = 10.0
    wechat: WechatSection = field(default_factory=WechatSection)
    alipay: AlipaySection = field(default_factory=AlipaySection)


@dataclass(frozen=True)
class PaymentSecrets:
    """What the secret files held (empty for ``none`` / ``simulated``)."""

    wechat_api_key: str = ""
    alipay_private_key_pem: bytes = b""
    alipay_public_key_pem: bytes = b""


def _read(key: str, name: str, config_dir: Path) -> bytes:
    if not name:
        raise ConfigError(key, "is required for this payment type (a file outside the repository)")
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = config_dir / path
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(key, f"cannot read {path}: {err.strerror}") from None


def _abs(name: str, config_dir: Path) -> str:
    if not name:
        return ""
    path = Path(name).expanduser()
    return str(path if path.is_absolute() else config_dir / path)


def check_payment(section: PaymentSection, *, demo: bool,
                  config_dir: Path) -> tuple[PaymentSection, PaymentSecrets]:
    """The payment rule: the simulator only in demo mode; a real gateway with every credential
    (files made absolute, secrets read once). Raises ConfigError naming ``payment.*``."""
    if section.type == "simulated" and not demo:
        raise ConfigError("payment.type", 'the simulated gateway is refused outside demo mode '
                                          '(use "wechat", "alipay" or "none")')
    if section.type == "wechat":
        w = section.wechat
        if not w.appid or not w.mch_id:
            raise ConfigError("payment.wechat.appid" if not w.appid else "payment.wechat.mch_id",
                              "is required for WeChat Pay")
        api_key = _read("payment.wechat.api_key_file", w.api_key_file, config_dir).decode().strip()
        if len(api_key) != 32:
            raise ConfigError("payment.wechat.api_key_file", "the API v2 key must be 32 characters")
        _read("payment.wechat.cert_file", w.cert_file, config_dir)  # reverse and refund need it
        _read("payment.wechat.key_file", w.key_file, config_dir)
        w = dataclasses.replace(w, cert_file=_abs(w.cert_file, config_dir),
                                key_file=_abs(w.key_file, config_dir),
                                ca_file=_abs(w.ca_file, config_dir))
        return dataclasses.replace(section, wechat=w), PaymentSecrets(wechat_api_key=api_key)
    if section.type == "alipay":
        a = section.alipay
        if not a.app_id:
            raise ConfigError("payment.alipay.app_id", "is required for Alipay")
        private = _read("payment.alipay.app_private_key_file", a.app_private_key_file, config_dir)
        public = _read("payment.alipay.alipay_public_key_file", a.alipay_public_key_file, config_dir)
        if b"PRIVATE KEY" not in private:
            raise ConfigError("payment.alipay.app_private_key_file", "must be a PEM private key")
        if b"PUBLIC KEY" not in public:
            raise ConfigError("payment.alipay.alipay_public_key_file", "must be a PEM public key")
        a = dataclasses.replace(a, ca_file=_abs(a.ca_file, config_dir))
        return dataclasses.replace(section, alipay=a), PaymentSecrets(
            alipay_private_key_pem=private, alipay_public_key_pem=public)
    return section, PaymentSecrets()

"""A production kiosk.toml with a real payment gateway pointed at an emulator, the secret files
it names, and the gateway built from it the way ``kiosk run`` builds it."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from config.settings import CONFIG_DIR, load_settings
from tests.support import alipay_emulator, wechat_emulator
from tests.support.pay_emulator_base import client_certificate
from tests.support.tls import make_ca

LIBRARY_KEY = "payments-test-library-key-0123456789"


@dataclass
class PaySetup:
    kind: str
    emulator: Any
    config: Path
    env: dict[str, str]

    def settings(self) -> Any:
        return load_settings(self.config, env=self.env)


def _pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def write_config(folder: Path, payment: str, *, data_dir: Path | None = None,
                 mode: str = "production") -> Path:
    shutil.copy(CONFIG_DIR / "fees.toml", folder / "fees.toml")
    path = folder / "kiosk.toml"
    path.write_text(
        f'[kiosk]\nid = "K01"\nmode = "{mode}"\ndata_dir = "{data_dir or folder / "data"}"\n'
        '[server]\nurl = "https://127.0.0.1:9"\n' + payment, encoding="utf-8")
    return path


@contextlib.contextmanager
def pay_setup(kind: str, folder: Path, *, wait_s: float = 1.0, timeout_s: float = 0.5) -> Iterator[PaySetup]:
    """The emulator of ``kind`` (``wechat`` over HTTPS with the merchant's client certificate,
    ``alipay``) running, and a config for it."""
    folder.mkdir(parents=True, exist_ok=True)
    secrets = folder / "secrets"
    secrets.mkdir()
    timing = f"wait_s = {wait_s}\nquery_interval_s = 0.05\nrequest_timeout_s = {timeout_s}\n"
    if kind == "wechat":
        ca = make_ca(folder / "ca")
        server_cert, server_key = ca.issue(folder / "ca")
        cert, key = client_certificate(ca, secrets)
        (secrets / "wechat_api_key").write_text(wechat_emulator.API_KEY)
        emu: Any = wechat_emulator.WechatEmulator(tls=(server_cert, server_key, ca.pem))
        payment = (f'[payment]\ntype = "wechat"\n{timing}[payment.wechat]\n'
                   f'appid = "{wechat_emulator.APPID}"\nmch_id = "{wechat_emulator.MCH_ID}"\n'
                   f'base_url = "{emu.url}"\napi_key_file = "{secrets / "wechat_api_key"}"\n'
                   f'cert_file = "{cert}"\nkey_file = "{key}"\nca_file = "{ca.pem}"\n')
    else:
        app = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ali = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (secrets / "app_private.pem").write_bytes(_pem_private(app))
        (secrets / "alipay_public.pem").write_bytes(_pem_public(ali.public_key()))
        emu = alipay_emulator.AlipayEmulator(app_public_key=app.public_key(), alipay_private_key=ali)
        payment = (f'[payment]\ntype = "alipay"\n{timing}[payment.alipay]\n'
                   f'app_id = "{alipay_emulator.APP_ID}"\ngateway_url = "{emu.url}"\n'
                   f'app_private_key_file = "{secrets / "app_private.pem"}"\n'
                   f'alipay_public_key_file = "{secrets / "alipay_public.pem"}"\n')
    with emu:
        yield PaySetup(kind, emu, write_config(folder, payment), {"LIBRARY_KEY": LIBRARY_KEY})


WECHAT_CODE = "134567890123456789"  # 18 digits, 10-15
ALIPAY_CODE = "287654321098765432"  # 16-24 digits, 25-30


def code_for(kind: str) -> str:
    return WECHAT_CODE if kind == "wechat" else ALIPAY_CODE

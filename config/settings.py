"""Load ``kiosk.toml`` into frozen, validated settings.

Every section is a frozen dataclass; an unknown key or a bad value raises ``ConfigError`` naming
the key (``printer.paper_width_mm``). Secrets (the library key that signs card tokens and
visitor passes, the kiosk's server token) never live in the repository: they come from the
environment (``LIBRARY_KEY``, ``KIOSK_TOKEN``) or from files named in ``[secrets]``. The demo
placeholder key is refused unless ``kiosk.mode = "demo"``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from library_core.codes import is_kiosk_id
from library_core.errors import ConfigError
from library_core.fees import FeeSchedule, load_fee_schedule
from library_core.visits import DEFAULT_DEPARTMENTS, DEPARTMENT_CODE, Department

CONFIG_DIR = Path(__file__).resolve().parent
DEMO_LIBRARY_KEY = "demo-library-key-not-for-production"
MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class KioskSection:
    id: str = "K01"
    kiosk_no: int = 1
    library_name: str = "市图书馆"
    library_name_en: str = "City Library"
    branch: str = "main"
    mode: Literal["production", "demo"] = "production"
    language: Literal["zh_CN", "en"] = "zh_CN"
    data_dir: str = "data"
    opening_time: str = "09:00"
    closing_time: str = "21:00"
    idle_warning_s: int = 45
    idle_reset_s: int = 60
    staff_idle_s: int = 120
    fullscreen: bool = False
    window_size: tuple[int, int] = (1280, 800)
    offline_max_payment_fen: int = 20000


@dataclass(frozen=True)
class SecretsSection:
    library_key_file: str = ""
    kiosk_token_file: str = ""


@dataclass(frozen=True)
class CardReaderSection:
    type: Literal["pcsc", "simulated"] = "simulated"
    reader_name: str = ""
    sector: int = 1
    key_a: str = "FFFFFFFFFFFF"
    key_b: str = "FFFFFFFFFFFF"
    poll_interval_s: float = 0.2


@dataclass(frozen=True)
class ScannerSection:
    type: Literal["serial", "wedge", "simulated", "camera"] = "simulated"
    port: str = ""
    baudrate: int = 9600
    terminator: Literal["CR", "LF", "CRLF", "ANY"] = "ANY"
    max_key_interval_ms: int = 40
    min_burst_length: int = 6
    camera_index: int = 0
    camera_source: str = ""  # a video file or device path instead of camera_index (tests, demos)


@dataclass(frozen=True)
class PrinterSection:
    type: Literal["network", "usb", "serial", "file", "dummy", "simulated"] = "simulated"
    host: str = "127.0.0.1"
    port: int = 9100
    usb_vendor_id: int = 0
    usb_product_id: int = 0
    serial_device: str = ""
    serial_baudrate: int = 19200
    file_path: str = ""
    paper_width_mm: Literal[58, 80] = 80
    profile: str = "default"
    chinese_mode: Literal["raw", "fs"] = "fs"
    timeout_s: float = 3.0
    check_status: bool = True


@dataclass(frozen=True)
class ServerSection:
    url: str = "http://127.0.0.1:8080"
    verify_tls: bool = True
    ca_bundle: str = ""
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    sync_interval_s: float = 5.0
    batch_size: int = 100
    embedded: bool = False


@dataclass(frozen=True)
class PaymentSection:
    type: Literal["simulated"] = "simulated"
    simulated_refuse_suffix: str = "0000"


@dataclass(frozen=True)
class FeesSection:
    file: str = "fees.toml"


@dataclass(frozen=True)
class Settings:
    kiosk: KioskSection = field(default_factory=KioskSection)
    secrets: SecretsSection = field(default_factory=SecretsSection)
    card_reader: CardReaderSection = field(default_factory=CardReaderSection)
    scanner: ScannerSection = field(default_factory=ScannerSection)
    printer: PrinterSection = field(default_factory=PrinterSection)
    server: ServerSection = field(default_factory=ServerSection)
    payment: PaymentSection = field(default_factory=PaymentSection)
    fees_file: FeesSection = field(default_factory=FeesSection)
    source: str = ""
    library_key: bytes = b""
    kiosk_token: str = ""
    fee_schedule: FeeSchedule | None = None
    departments: tuple[Department, ...] = DEFAULT_DEPARTMENTS  # [[departments]] code, zh_CN, en

    @property
    def data_dir(self) -> Path:
        return Path(self.kiosk.data_dir)

    @property
    def fees(self) -> FeeSchedule:
        assert self.fee_schedule is not None
        return self.fee_schedule


_SECTIONS: dict[str, type] = {
    "kiosk": KioskSection,
    "secrets": SecretsSection,
    "card_reader": CardReaderSection,
    "scanner": ScannerSection,
    "printer": PrinterSection,
    "server": ServerSection,
    "payment": PaymentSection,
    "fees": FeesSection,
}


def _check_value(key: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(key, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, list) or len(value) != len(args):
            raise ConfigError(key, f"must be a list of {len(args)} values")
        return tuple(_check_value(key, v, a) for v, a in zip(value, args, strict=True))
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(key, "unsupported type")
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, got {value!r}")
        return value
    if annotation is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(key, f"must be an integer, got {value!r}")
        return value
    if annotation is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(key, f"must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {value!r}")
        return value
    raise ConfigError(key, "unsupported type")


def _build_section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(name, "must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(f"{name}.{key}", "unknown key")
        values[key] = _check_value(f"{name}.{key}", value, hints[key])
    return cls(**values)


def _departments(raw: Any) -> tuple[Department, ...]:
    """``[[departments]]`` tables: ``code`` (a-z, 0-9, _), ``zh_CN`` and ``en`` names, codes
    unique, at least one. Raises ConfigError naming ``departments[i].key``."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError("departments", "must be a non-empty list of [[departments]] tables")
    out: list[Department] = []
    for i, entry in enumerate(raw):
        key = f"departments[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(key, "must be a table with code, zh_CN and en")
        for name in entry:
            if name not in ("code", "zh_CN", "en"):
                raise ConfigError(f"{key}.{name}", "unknown key")
        values: dict[str, str] = {}
        for name in ("code", "zh_CN", "en"):
            value = entry.get(name)
            if not isinstance(value, str) or not value.strip() or len(value) > 30:
                raise ConfigError(f"{key}.{name}", "must be a string of 1 to 30 characters")
            if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
                raise ConfigError(f"{key}.{name}", "must not hold control characters")
            values[name] = value.strip()
        if not DEPARTMENT_CODE.fullmatch(values["code"]):
            raise ConfigError(f"{key}.code", "must be lower-case letters, digits and _")
        if any(d.code == values["code"] for d in out):
            raise ConfigError(f"{key}.code", f"duplicate department code {values['code']!r}")
        out.append(Department(values["code"], values["zh_CN"], values["en"]))
    return tuple(out)


def _validate(settings: Settings) -> None:
    k = settings.kiosk
    if not is_kiosk_id(k.id):
        raise ConfigError("kiosk.id", f"must look like K01, got {k.id!r}")
    for key in ("opening_time", "closing_time"):
        value = getattr(k, key)
        try:
            dt.time.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"kiosk.{key}", f"must be HH:MM, got {value!r}") from None
    if not 0 < k.idle_warning_s < k.idle_reset_s:
        raise ConfigError("kiosk.idle_warning_s", "must be positive and below idle_reset_s")
    if not 0 < k.kiosk_no < 1 << 16:
        raise ConfigError("kiosk.kiosk_no", "must be between 1 and 65535")
    cr = settings.card_reader
    for key in ("key_a", "key_b"):
        value = getattr(cr, key)
        try:
            if len(bytes.fromhex(value)) != 6:
                raise ValueError
        except ValueError:
            raise ConfigError(f"card_reader.{key}", "must be 12 hex digits (a 6-byte MIFARE key)") from None
    if not 1 <= cr.sector <= 15:
        raise ConfigError("card_reader.sector", "must be between 1 and 15")
    if settings.scanner.camera_index < 0:
        raise ConfigError("scanner.camera_index", "must be 0 or more (the camera's number)")
    if not 0 < settings.printer.timeout_s <= 30:
        raise ConfigError("printer.timeout_s", "must be between 0 and 30 seconds")
    if not settings.server.url.startswith(("http://", "https://")):
        raise ConfigError("server.url", "must start with http:// or https://")
    if not 1 <= settings.server.batch_size <= 1000:
        raise ConfigError("server.batch_size", "must be between 1 and 1000")


def _read_secret(
    env_name: str, file_setting: str, key: str, env: Mapping[str, str], *, required: bool = True
) -> str:
    if env.get(env_name):
        return env[env_name].strip()
    if file_setting:
        path = Path(file_setting).expanduser()
        if not required and not path.exists():
            return ""  # not enrolled yet
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(key, f"cannot read {path}: {err.strerror}") from None
    return ""


def load_settings(path: Path | str, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and freeze a kiosk config file. Raises ConfigError naming the key."""
    env = os.environ if env is None else env
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("config", f"{path}: {err}") from err
    sections: dict[str, Any] = {}
    if "departments" in raw:
        sections["departments"] = _departments(raw.pop("departments"))
    for name, value in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(name, "unknown section")
        sections[name] = _build_section(name, _SECTIONS[name], value)
    fees_section = sections.pop("fees", FeesSection())
    settings = Settings(**sections, fees_file=fees_section, source=str(path))
    _validate(settings)

    fees_path = Path(fees_section.file)
    if not fees_path.is_absolute():
        fees_path = path.parent / fees_path
    schedule = load_fee_schedule(fees_path)

    key_text = _read_secret("LIBRARY_KEY", settings.secrets.library_key_file, "secrets.library_key_file", env)
    demo = settings.kiosk.mode == "demo"
    if not key_text:
        if not demo:
            raise ConfigError("LIBRARY_KEY", "no library key: set LIBRARY_KEY or secrets.library_key_file")
        key_text = DEMO_LIBRARY_KEY
    if key_text == DEMO_LIBRARY_KEY and not demo:
        raise ConfigError("LIBRARY_KEY", "the demo placeholder key is refused outside demo mode")
    if len(key_text.encode()) < MIN_KEY_BYTES:
        raise ConfigError("LIBRARY_KEY", f"must be at least {MIN_KEY_BYTES} bytes")
    token = _read_secret("KIOSK_TOKEN", settings.secrets.kiosk_token_file, "secrets.kiosk_token_file", env, required=False)
    return dataclasses.replace(
        settings, library_key=key_text.encode(), kiosk_token=token, fee_schedule=schedule
    )


def demo_settings_path() -> Path:
    return CONFIG_DIR / "demo.toml"

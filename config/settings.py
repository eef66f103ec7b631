"""Load ``kiosk.toml`` into frozen, validated settings.

Every section is a frozen dataclass validated by pydantic (``extra="forbid"``, strict types: a
TOML ``1`` is no ``true``, a ``"1"`` no integer); an unknown key or a bad value raises
``ConfigError`` naming the key (``printer.paper_width_mm``). The sections stay plain frozen
dataclasses (``dataclasses.replace`` works on them, and code may build one by hand: the device
factories check what they use); pydantic checks them when a file is loaded. Secrets (the library
key that signs card tokens and visitor passes, the kiosk's server token) never live in the
repository: they come from the environment (``LIBRARY_KEY``, ``KIOSK_TOKEN``) or from files
named in ``[secrets]``. The card master key (``CARD_MASTER_KEY`` or
``secrets.card_master_key_file``), from which every card's MIFARE keys are diversified
(``library_core.mifare``), is a secret of the same kind, needed outside demo mode by a PC/SC
reader; its demo placeholder and the MIFARE transport key ``FFFFFFFFFFFF`` (as the master key or
a legacy key) are refused outside demo mode. The demo placeholder key is refused unless
``kiosk.mode = "demo"``, and so are an ``http://`` server URL and ``server.verify_tls = false``
(the kiosk sends staff PINs and its token); ``server.ca_file`` names the CA certificates a
library's own CA signs with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import ssl
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    with_config,
)

from config.id_card import IdCardSection
from config.payment import PaymentSecrets, PaymentSection, check_payment
from config.receipts import ReceiptsSection, check_receipts
from config.senior import SeniorSection
from config.sip2 import CirculationSection, check_circulation
from config.staff import StaffSection
from config.voice import VoiceSection
from library_core.codes import is_kiosk_id
from library_core.errors import ConfigError
from library_core.fees import FeeSchedule, load_fee_schedule
from library_core.mifare import KEY_RULE as MIFARE_KEY_RULE
from library_core.mifare import (
    MIN_MASTER_KEY_BYTES,
    TRANSPORT_KEY_RULE,
    is_transport_key,
    mifare_key_bytes,
)
from library_core.visits import DEFAULT_DEPARTMENTS, DEPARTMENT_CODE, Department

CONFIG_DIR = Path(__file__).resolve().parent
DEMO_LIBRARY_KEY = "demo-library-key-not-for-production"
DEMO_CARD_MASTER_KEY = "demo-card-master-key-not-for-production"
MIN_KEY_BYTES = 16

_SECTION_CONFIG = ConfigDict(extra="forbid")


def _check(test: Callable[[Any], bool], message: str) -> AfterValidator:
    """A field check whose failure message (``{value!r}`` filled in) goes into the ConfigError."""

    def check(value: Any) -> Any:
        if not test(value):
            raise ValueError(message.format(value=value))
        return value

    return AfterValidator(check)


def _is_time(value: str) -> bool:
    try:
        dt.time.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_mifare_key(value: str) -> bool:
    if not value:
        return True  # no legacy key
    try:
        mifare_key_bytes(value)  # the one parser, shared with the card reader drivers
    except ValueError:
        return False
    return True


Time = Annotated[StrictStr, _check(_is_time, "must be HH:MM, got {value!r}")]
MifareKey = Annotated[StrictStr, _check(_is_mifare_key, MIFARE_KEY_RULE)]  # "" = none


@with_config(_SECTION_CONFIG)
@dataclass(frozen=True)
class KioskSection:
    id: Annotated[StrictStr, _check(is_kiosk_id, "must look like K01, got {value!r}")] = "K01"
    kiosk_no: Annotated[StrictInt, _check(lambda v: 0 < v < 1 << 16,
                                          "must be between 1 and 65535")] = 1
    library_name: StrictStr = "市图书馆"
    library_name_en: StrictStr = "City Library"
    branch: StrictStr = "main"
    mode: Literal["production", "demo"] = "production"
    language: Literal["zh_CN", "en"] = "zh_CN"
    data_dir: StrictStr = "data"
    opening_time: Time = "09:00"
    closing_time: Time = "21:00"
    idle_warning_s: StrictInt = 45  # checked against idle_reset_s in load_settings
    idle_reset_s: StrictInt = 60
    staff_idle_s: StrictInt = 120
    fullscreen: StrictBool = False
    window_size: tuple[StrictInt, StrictInt] = (1280, 800)
    offline_max_payment_fen: StrictInt = 20000


@with_config(_SECTION_CONFIG)
@dataclass(frozen=True)
class SecretsSection:
    library_key_file: StrictStr = ""
    kiosk_token_file: StrictStr = ""
    card_master_key_file: StrictStr = ""


@with_config(_SECTION_CONFIG)
@dataclass(frozen=True)
class CardReaderSection:
    type: Literal["pcsc", "simulated"] = "simulated"
    reader_name: StrictStr = ""
    sector: Annotated[StrictInt, _check(lambda v: 1 <= v <= 15, "must be between 1 and 15")] = 1
    # the one fixed key pair of cards issued before per-card keys ("" = none; library_core.mifare)
    legacy_key_a: MifareKey = ""
    legacy_key_b: MifareKey = ""
    poll_interval_s: StrictFloat = 0.2


@with_config(_SECTION_CONFIG)
@dataclass(frozen=True)
class ScannerSection:
    type: Literal["serial", "wedge", "simulated", "camera"] = "simulated"
    port: StrictStr = ""
    baudrate: StrictInt = 9600
    terminator: Literal["CR", "LF", "CRLF", "ANY"] = "ANY"
    max_key_interval_ms: StrictInt = 40
    min_burst_length: StrictInt = 6
    camera_index: Annotated[StrictInt, _check(lambda v: v >= 0,
                                              "must be 0 or more (the camera's number)")] = 0
    camera_source: StrictStr = ""  # a video file or device path instead of camera_index (tests, demos)


@with_config(_SECTION_CONFIG)
@dataclass(frozen=True)
class PrinterSection:
    type: Literal["network", "usb", "serial", "file", "dummy", "simulated"] = "simulated"
    host: StrictStr = "127.0.0.1"
    port: StrictInt = 9100
    usb_vendor_id: StrictInt = 0
    usb_product_id: StrictInt = 0
    serial_device: StrictStr = ""
    serial_baudrate: StrictInt = 19200
    file_path: StrictStr = ""
    paper_width_mm: Literal[58, 80] = 80
    profile: StrictStr = "default"
    chinese_mode: Literal["raw", "fs"] = "fs"
    timeout_s: Annotated[StrictFloat, _check(lambda v: 0 < v <= 30,
                                             "must be between 0 and 30 seconds")] = 3.0
    check_status: StrictBool = True


@with_config(_SECTION_CONFIG)
@dataclass(frozen=True)
class ServerSection:
    url: Annotated[StrictStr, _check(lambda v: v.startswith(("http://", "https://")),
                                     "must start with http:// or https://")] = "http://127.0.0.1:8080"
    verify_tls: StrictBool = True  # false only in demo mode
    # PEM CA certificates the server's certificate must chain to, instead of the system's
    # (a library's own CA); relative to the config file's folder
    ca_file: StrictStr = ""
    connect_timeout_s: StrictFloat = 3.0
    read_timeout_s: StrictFloat = 10.0
    sync_interval_s: StrictFloat = 5.0
    batch_size: Annotated[StrictInt, _check(lambda v: 1 <= v <= 1000,
                                            "must be between 1 and 1000")] = 100
    embedded: StrictBool = False


@with_config(_SECTION_CONFIG)
@dataclass(frozen=True)
class FeesSection:
    file: StrictStr = "fees.toml"


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
    id_card: IdCardSection = field(default_factory=IdCardSection)  # config/id_card.py
    voice: VoiceSection = field(default_factory=VoiceSection)  # config/voice.py
    circulation: CirculationSection = field(default_factory=CirculationSection)  # config/sip2.py
    senior: SeniorSection = field(default_factory=SeniorSection)
    staff: StaffSection = field(default_factory=StaffSection)  # [staff.offline]
    receipts: ReceiptsSection = field(default_factory=ReceiptsSection)  # config/receipts.py
    payment_secrets: PaymentSecrets = field(default_factory=PaymentSecrets, repr=False)
    source: str = ""
    library_key: bytes = b""
    card_master_key: bytes = b""  # b"" only when no PC/SC reader needs it (simulated, not demo)
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


_DEPARTMENT_TEXT = "must be a string of 1 to 30 characters"


def _department_text(value: str) -> str:
    if not value.strip() or len(value) > 30:
        raise ValueError(_DEPARTMENT_TEXT)
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise ValueError("must not hold control characters")
    return value.strip()


def _department_code(value: str) -> str:
    if not DEPARTMENT_CODE.fullmatch(value):
        raise ValueError("must be lower-case letters, digits and _")
    return value


DepartmentText = Annotated[StrictStr, AfterValidator(_department_text)]


class DepartmentEntry(BaseModel):
    """One ``[[departments]]`` table: ``code`` (a-z, 0-9, _) and the ``zh_CN`` and ``en`` names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[DepartmentText, AfterValidator(_department_code)]
    zh_CN: DepartmentText
    en: DepartmentText


class ConfigFile(BaseModel):
    """The whole ``kiosk.toml``: one table per section, ``[[departments]]`` (at least one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kiosk: KioskSection = Field(default_factory=KioskSection)
    secrets: SecretsSection = Field(default_factory=SecretsSection)
    card_reader: CardReaderSection = Field(default_factory=CardReaderSection)
    scanner: ScannerSection = Field(default_factory=ScannerSection)
    printer: PrinterSection = Field(default_factory=PrinterSection)
    server: ServerSection = Field(default_factory=ServerSection)
    payment: PaymentSection = Field(default_factory=PaymentSection)
    fees: FeesSection = Field(default_factory=FeesSection)
    id_card: IdCardSection = Field(default_factory=IdCardSection)
    voice: VoiceSection = Field(default_factory=VoiceSection)
    circulation: CirculationSection = Field(default_factory=CirculationSection)
    senior: SeniorSection = Field(default_factory=SeniorSection)
    staff: StaffSection = Field(default_factory=StaffSection)
    receipts: ReceiptsSection = Field(default_factory=ReceiptsSection)
    departments: Annotated[list[DepartmentEntry], Field(min_length=1)] | None = None


_SECTIONS: dict[str, Any] = {
    name: info.annotation for name, info in ConfigFile.model_fields.items() if name != "departments"
}


def _field_type(section: str, name: str) -> tuple[Any, tuple[Any, ...]]:
    """``section.name``'s type as (origin, args), Annotated metadata dropped; (None, ()) if none."""
    cls = _SECTIONS.get(section)
    hint = typing.get_type_hints(cls).get(name) if cls is not None else None
    if hint is None:
        return None, ()
    return typing.get_origin(hint) or hint, typing.get_args(hint)


def _config_error(err: ValidationError) -> ConfigError:
    """The first problem pydantic found, as the ConfigError (and message) naming its key."""
    first = err.errors(include_url=False)[0]
    loc, kind, value = first["loc"], first["type"], first.get("input")
    if loc and loc[0] == "departments":
        key = "departments" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
        if len(loc) == 1:
            return ConfigError(key, "must be a non-empty list of [[departments]] tables")
        if len(loc) == 2:
            return ConfigError(key, "must be a table with code, zh_CN and en")
        if kind == "extra_forbidden":
            return ConfigError(key, "unknown key")
        if kind in ("missing", "string_type"):
            return ConfigError(key, _DEPARTMENT_TEXT)
        return ConfigError(key, str(first["ctx"]["error"]) if kind == "value_error" else first["msg"])
    names = [str(p) for p in loc if not isinstance(p, int)]  # an index inside a tuple value
    key = ".".join(names)
    if len(names) == 1:
        return ConfigError(key, "unknown section" if kind == "extra_forbidden" else "must be a table")
    origin, args = _field_type(names[0], names[1])
    if kind == "unexpected_keyword_argument" or origin is None:
        return ConfigError(key, "unknown key")
    if origin is tuple and (kind in ("tuple_type", "too_long") or kind == "missing"):
        return ConfigError(key, f"must be a list of {len(args)} values")
    messages = {
        "literal_error": f"must be one of {', '.join(map(repr, args))}, got {value!r}",
        "bool_type": f"must be true or false, got {value!r}",
        "int_type": f"must be an integer, got {value!r}",
        "float_type": f"must be a number, got {value!r}",
        "string_type": f"must be a string, got {value!r}",
    }
    if kind == "value_error":
        return ConfigError(key, str(first["ctx"]["error"]))
    return ConfigError(key, messages.get(kind, first["msg"]))


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


def _check_server(server: ServerSection, *, demo: bool, config_dir: Path) -> ServerSection:
    """The transport rule: https and verified outside demo mode; ``ca_file`` made absolute
    and loaded once here. Raises ConfigError naming ``server.url`` / ``verify_tls`` / ``ca_file``."""
    if not demo and not server.url.startswith("https://"):
        raise ConfigError("server.url", f"must start with https:// outside demo mode, got "
                                        f"{server.url!r} (kiosks send staff PINs and their token)")
    if not demo and not server.verify_tls:
        raise ConfigError("server.verify_tls", "must be true outside demo mode")
    if not server.ca_file:
        return server
    path = Path(server.ca_file).expanduser()
    if not path.is_absolute():
        path = config_dir / path
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError:  # an OSError too: first
        raise ConfigError("server.ca_file", f"{path} holds no PEM CA certificate") from None
    except OSError as err:
        raise ConfigError("server.ca_file", f"cannot read {path}: {err.strerror or err}") from None
    return dataclasses.replace(server, ca_file=str(path))


def parse_config(raw: Mapping[str, Any]) -> ConfigFile:
    """Validate a parsed ``kiosk.toml``. Raises ConfigError naming the first bad key."""
    try:
        doc = ConfigFile.model_validate(raw)
    except ValidationError as err:
        raise _config_error(err) from None
    k = doc.kiosk
    if not 0 < k.idle_warning_s < k.idle_reset_s:
        raise ConfigError("kiosk.idle_warning_s", "must be positive and below idle_reset_s")
    for i, entry in enumerate(doc.departments or ()):
        if any(d.code == entry.code for d in (doc.departments or [])[:i]):
            raise ConfigError(f"departments[{i}].code", f"duplicate department code {entry.code!r}")
    return doc


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
    doc = parse_config(raw)
    departments = DEFAULT_DEPARTMENTS if doc.departments is None else tuple(
        Department(d.code, d.zh_CN, d.en) for d in doc.departments)
    settings = Settings(kiosk=doc.kiosk, secrets=doc.secrets, card_reader=doc.card_reader,
                        scanner=doc.scanner, printer=doc.printer, server=doc.server,
                        payment=doc.payment, fees_file=doc.fees, circulation=doc.circulation,
                        senior=doc.senior,
                        staff=doc.staff, receipts=doc.receipts,
                        id_card=doc.id_card, voice=doc.voice, source=str(path),
                        departments=departments)

    fees_path = Path(doc.fees.file)
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
    server = _check_server(settings.server, demo=demo, config_dir=path.parent)
    settings = dataclasses.replace(settings, circulation=check_circulation(
        settings.circulation, demo=demo, config_dir=path.parent, env=env))
    master = _card_master_key(settings, env, library_key=key_text)
    token = _read_secret("KIOSK_TOKEN", settings.secrets.kiosk_token_file, "secrets.kiosk_token_file", env, required=False)
    payment, payment_secrets = check_payment(settings.payment, demo=demo, config_dir=path.parent)
    return dataclasses.replace(
        settings, server=server, payment=payment, payment_secrets=payment_secrets,
        receipts=check_receipts(settings.receipts, server_url=server.url, demo=demo),
        library_key=key_text.encode(), card_master_key=master,
        kiosk_token=token, fee_schedule=schedule)


def _card_master_key(settings: Settings, env: Mapping[str, str], *, library_key: str) -> bytes:
    """The card master key; the transport key and the demo placeholder only in demo mode.

    Raises ConfigError naming the key (``CARD_MASTER_KEY``, ``card_reader.legacy_key_a`` ...).
    """
    demo = settings.kiosk.mode == "demo"
    reader = settings.card_reader
    if not demo:
        for name in ("legacy_key_a", "legacy_key_b"):
            if is_transport_key(getattr(reader, name)):
                raise ConfigError(f"card_reader.{name}", TRANSPORT_KEY_RULE)
    text = _read_secret("CARD_MASTER_KEY", settings.secrets.card_master_key_file,
                        "secrets.card_master_key_file", env)
    if not text:
        if demo:
            return DEMO_CARD_MASTER_KEY.encode()
        if reader.type == "pcsc":
            raise ConfigError("CARD_MASTER_KEY",
                              "no card master key: set CARD_MASTER_KEY or secrets.card_master_key_file")
        return b""  # the simulated reader has no real card to lock
    if not demo and is_transport_key(text.replace(" ", "")):
        raise ConfigError("CARD_MASTER_KEY", TRANSPORT_KEY_RULE)
    if text == DEMO_CARD_MASTER_KEY and not demo:
        raise ConfigError("CARD_MASTER_KEY", "the demo placeholder key is refused outside demo mode")
    if len(text.encode()) < MIN_MASTER_KEY_BYTES:
        raise ConfigError("CARD_MASTER_KEY", f"must be at least {MIN_MASTER_KEY_BYTES} bytes")
    if text == library_key:
        raise ConfigError("CARD_MASTER_KEY", "must not be the library key (two secrets, two jobs)")
    return text.encode()


def demo_settings_path() -> Path:
    return CONFIG_DIR / "demo.toml"

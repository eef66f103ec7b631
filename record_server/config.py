"""Server settings: database URL, data folder, limits, fee schedule. Frozen; built from CLI and
environment. Everything here is the server's own: the default fee schedule is package data
(``record_server/fees.toml``), so an install with only the ``server`` extra starts with no
kiosk files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from library_core.errors import ConfigError
from library_core.fees import FeeSchedule, load_fee_schedule
from library_core.rules import PIN_LOCKOUT_STEPS_S
from library_core.staff_rules import OfflineStaffPolicy

DEFAULT_DATA_DIR = "record-server-data"
ENV_DATABASE_URL = "RECORD_SERVER_DATABASE_URL"
ENV_DATA_DIR = "RECORD_SERVER_DATA_DIR"
ENV_FEES_FILE = "RECORD_SERVER_FEES_FILE"  # the fee schedule it publishes (default FEES_PATH)
# the library key the kiosks hold (their LIBRARY_KEY): the server makes the keyed hash of each
# reader's ID number with it, so kiosks match a person without holding the number
ENV_LIBRARY_KEY = "RECORD_SERVER_LIBRARY_KEY"
ENV_LIBRARY_KEY_FILE = "RECORD_SERVER_LIBRARY_KEY_FILE"
ENV_CONSOLE_IDLE = "RECORD_SERVER_CONSOLE_IDLE_SECONDS"
ENV_CONSOLE_HOURS = "RECORD_SERVER_CONSOLE_SESSION_HOURS"
# visitors' personal data is purged this many days after the visit (record_server.console
# .visitor_purge), checked every RECORD_SERVER_VISITOR_PURGE_INTERVAL_SECONDS while serving
ENV_VISITOR_RETENTION = "RECORD_SERVER_VISITOR_RETENTION_DAYS"
ENV_PURGE_INTERVAL = "RECORD_SERVER_VISITOR_PURGE_INTERVAL_SECONDS"
ENV_KIOSK_SILENT = "RECORD_SERVER_KIOSK_SILENT_MINUTES"  # the dashboard's "silent too long"
ENV_ERECEIPT_DAYS = "RECORD_SERVER_ERECEIPT_DAYS"  # e-receipt links expire after this many days
# "0": staff events without a staff proof apply, flagged as a conflict (docs/security.md 5.2)
ENV_REQUIRE_STAFF_PROOF = "RECORD_SERVER_REQUIRE_STAFF_PROOF"
DEMO_LIBRARY_KEY = b"demo-library-key-not-for-production"  # the kiosk demo's placeholder
MIN_LIBRARY_KEY_BYTES = 16
FEES_PATH = Path(__file__).resolve().parent / "fees.toml"  # package data, installed with it


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'records.sqlite3').resolve()}"


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    database_url: str
    fee_schedule: FeeSchedule
    max_body_bytes: int = 1 << 20
    max_batch: int = 500
    max_page: int = 1000
    staff_session_hours: int = 12
    login_rate_per_minute: int = 20
    lockout_steps_s: tuple[int, ...] = PIN_LOCKOUT_STEPS_S  # staff PinLockout (serve --lockout-steps)
    enroll_code_hours: int = 24
    library_key: bytes = DEMO_LIBRARY_KEY
    reader_pin_rate_per_minute: int = 30
    # staff authority at kiosks (docs/security.md 5.1-5.4): kiosk staff sessions, proofs on
    # staff events (off: unproven ones apply, flagged), the server's offline staff policy
    staff_kiosk_session_minutes: int = 30
    require_staff_proof: bool = True
    offline_staff: OfflineStaffPolicy = field(default_factory=OfflineStaffPolicy)
    # the console (record_server.console): idle log-out and the longest session, from
    # RECORD_SERVER_CONSOLE_IDLE_SECONDS (default 15 min) and ..._SESSION_HOURS (default 10)
    console_idle_seconds: int = 900
    console_session_hours: int = 10
    visitor_retention_days: int = 30
    visitor_purge_interval_s: int = 86400
    kiosk_silent_minutes: int = 15
    ereceipt_days: int = 365  # days after issue that /r/<token> shows the receipt
    tags: dict[str, str] = field(default_factory=dict)


def load_config(
    *, data_dir: str | Path | None = None, database_url: str | None = None,
    fees_path: Path | None = None, login_rate_per_minute: int | None = None,
    library_key: bytes | None = None,
) -> ServerConfig:
    """Build the configuration: arguments, then environment, then defaults. Raises ConfigError."""
    folder = Path(data_dir or os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    url = database_url or os.environ.get(ENV_DATABASE_URL) or default_database_url(folder)
    env_fees = os.environ.get(ENV_FEES_FILE)
    schedule = load_fee_schedule(fees_path or (Path(env_fees) if env_fees else FEES_PATH))
    extra: dict[str, object] = {"library_key": library_key or read_library_key()}
    if os.environ.get(ENV_REQUIRE_STAFF_PROOF, "1").strip().lower() in ("0", "false", "no"):
        extra["require_staff_proof"] = False  # while kiosks upgrade: unproven ones flagged
    if login_rate_per_minute is not None:
        extra["login_rate_per_minute"] = login_rate_per_minute
    for name, env in (("console_idle_seconds", ENV_CONSOLE_IDLE),
                      ("console_session_hours", ENV_CONSOLE_HOURS),
                      ("visitor_retention_days", ENV_VISITOR_RETENTION),
                      ("visitor_purge_interval_s", ENV_PURGE_INTERVAL),
                      ("kiosk_silent_minutes", ENV_KIOSK_SILENT),
                      ("ereceipt_days", ENV_ERECEIPT_DAYS)):
        if os.environ.get(env):
            try:
                extra[name] = int(os.environ[env])
            except ValueError:
                raise ConfigError(env, "want a whole number") from None
            if int(extra[name]) < 1:  # type: ignore[call-overload]
                raise ConfigError(env, "want a whole number above 0")
    return ServerConfig(data_dir=folder, database_url=url, fee_schedule=schedule, **extra)  # type: ignore[arg-type]


def read_library_key(env: dict[str, str] | None = None) -> bytes:
    """The library key from ``RECORD_SERVER_LIBRARY_KEY`` or the file named by
    ``RECORD_SERVER_LIBRARY_KEY_FILE``; the demo placeholder when neither is set (``serve``
    refuses it: ``check_library_key``). Raises ConfigError naming the variable."""
    source = os.environ if env is None else env
    text = source.get(ENV_LIBRARY_KEY, "").strip()
    if not text and source.get(ENV_LIBRARY_KEY_FILE):
        path = Path(source[ENV_LIBRARY_KEY_FILE]).expanduser()
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(ENV_LIBRARY_KEY_FILE, f"cannot read {path}: {err.strerror}") from None
    return text.encode() if text else DEMO_LIBRARY_KEY


def check_library_key(config: ServerConfig) -> None:
    """What ``record-server serve`` asks of the library key. Raises ConfigError naming
    ``RECORD_SERVER_LIBRARY_KEY``: none set (the demo placeholder), or shorter than 16 bytes."""
    if config.library_key == DEMO_LIBRARY_KEY:
        raise ConfigError(ENV_LIBRARY_KEY, "no library key: set RECORD_SERVER_LIBRARY_KEY or "
                                           "RECORD_SERVER_LIBRARY_KEY_FILE (the kiosks' "
                                           "LIBRARY_KEY); the demo placeholder is refused")
    if len(config.library_key) < MIN_LIBRARY_KEY_BYTES:
        raise ConfigError(ENV_LIBRARY_KEY, f"must be at least {MIN_LIBRARY_KEY_BYTES} bytes")

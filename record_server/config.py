"""Server settings: database URL, data folder, limits, fee schedule. Frozen; built from CLI and
environment. Everything here is the server's own: the default fee schedule is package data
(``record_server/fees.toml``), so an install with only the ``server`` extra starts with no
kiosk files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from library_core.fees import FeeSchedule, load_fee_schedule

DEFAULT_DATA_DIR = "record-server-data"
ENV_DATABASE_URL = "RECORD_SERVER_DATABASE_URL"
ENV_DATA_DIR = "RECORD_SERVER_DATA_DIR"
ENV_FEES_FILE = "RECORD_SERVER_FEES_FILE"  # the fee schedule it publishes (default FEES_PATH)
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
    enroll_code_hours: int = 24
    tags: dict[str, str] = field(default_factory=dict)


def load_config(
    *, data_dir: str | Path | None = None, database_url: str | None = None,
    fees_path: Path | None = None, login_rate_per_minute: int | None = None,
) -> ServerConfig:
    """Build the configuration: arguments, then environment, then defaults. Raises ConfigError."""
    folder = Path(data_dir or os.environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    url = database_url or os.environ.get(ENV_DATABASE_URL) or default_database_url(folder)
    env_fees = os.environ.get(ENV_FEES_FILE)
    schedule = load_fee_schedule(fees_path or (Path(env_fees) if env_fees else FEES_PATH))
    extra = {}
    if login_rate_per_minute is not None:
        extra["login_rate_per_minute"] = login_rate_per_minute
    return ServerConfig(data_dir=folder, database_url=url, fee_schedule=schedule, **extra)  # type: ignore[arg-type]

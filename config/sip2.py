"""``[circulation]`` in ``kiosk.toml``: who checks items in, and how to reach the ILS over SIP2.

```toml
[circulation]
adapter = "sip2"            # "record_server" (default: our own store) or "sip2"
host = "ils.example.org"
port = 6001
tls = true
ca_file = ""                # "" with tls: the system's CAs
encoding = "utf-8"          # utf-8, gb18030 or cp850, as the ILS's SIP2 service is set up
login_user = "kiosk01"
password_file = "/etc/library-kiosk/sip2-password"   # or the SIP2_PASSWORD environment variable
location_code = "K01"
institution_id = "CITYLIB"
terminal_password = ""
timeout_s = 3.0             # a reader waits no longer; then the ILS counts as unreachable
heartbeat_s = 30.0
checksum_lenient = false    # accept answers whose AZ checksum is wrong (logged)
offline_policy = "checkin"  # off, checkin, checkin_and_fees
offline_cap = 200           # at most this many transactions waiting for the ILS
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    with_config,
)

from library_core.errors import ConfigError


def _between(low: float, high: float) -> AfterValidator:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {value!r}")
        return value

    return AfterValidator(check)


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class CirculationSection:
    adapter: Literal["record_server", "sip2"] = "record_server"
    host: StrictStr = ""
    port: Annotated[StrictInt, _between(1, 65535)] = 6001
    tls: StrictBool = True
    ca_file: StrictStr = ""
    verify_tls: StrictBool = True
    encoding: Literal["utf-8", "gb18030", "cp850"] = "utf-8"
    login_user: StrictStr = ""
    password_file: StrictStr = ""
    location_code: StrictStr = ""
    institution_id: StrictStr = ""
    terminal_password: StrictStr = ""
    timeout_s: Annotated[StrictFloat, _between(0.1, 30)] = 3.0
    heartbeat_s: Annotated[StrictFloat, _between(1, 3600)] = 30.0
    checksum_lenient: StrictBool = False
    offline_policy: Literal["off", "checkin", "checkin_and_fees"] = "checkin"
    offline_cap: Annotated[StrictInt, _between(0, 100_000)] = 200
    password: StrictStr = ""  # filled from SIP2_PASSWORD or password_file, never from the TOML


def check_circulation(section: CirculationSection, *, demo: bool, config_dir: Path,
                      env: Mapping[str, str] | None = None) -> CirculationSection:
    """Fill the password; refuse an incomplete SIP2 set-up or plain TCP outside demo mode.
    Raises ConfigError naming ``circulation.<key>``."""
    if section.adapter != "sip2":
        return section
    env = os.environ if env is None else env
    if section.password:
        raise ConfigError("circulation.password", "put the password in password_file or "
                                                  "SIP2_PASSWORD, not in the config file")
    for key in ("host", "login_user"):
        if not getattr(section, key).strip():
            raise ConfigError(f"circulation.{key}", "is needed with adapter = \"sip2\"")
    if not demo and not section.tls:
        raise ConfigError("circulation.tls", "must be true outside demo mode (the login "
                                             "password and patrons' data cross the network)")
    if not demo and not section.verify_tls:
        raise ConfigError("circulation.verify_tls", "must be true outside demo mode")
    password = env.get("SIP2_PASSWORD", "").strip()
    if not password and section.password_file:
        path = Path(section.password_file).expanduser()
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError("circulation.password_file",
                              f"cannot read {path}: {err.strerror or err}") from None
    if not password:
        raise ConfigError("SIP2_PASSWORD", "no SIP2 password: set SIP2_PASSWORD or "
                                           "circulation.password_file")
    ca_file = section.ca_file
    if ca_file and not Path(ca_file).expanduser().is_absolute():
        ca_file = str(config_dir / ca_file)
    return replace(section, password=password, ca_file=ca_file)

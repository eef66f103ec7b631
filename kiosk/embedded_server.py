"""The kiosk demo's record server: ``record_server.embedded`` in a thread, seeded with the demo
rows (``server_client.demo_data``), so the demo kiosk pulls the same data it shows.

The seeding lives here, not in the record server: the server imports nothing of the kiosk side.
"""

from __future__ import annotations

from pathlib import Path

from record_server.embedded import EmbeddedServer
from record_server.embedded import start_embedded as _start
from server_client import demo_data

# the demo staff's web passwords (the console at /console/; the kiosk PINs are in the profile)
DEMO_CONSOLE_LOGINS = {"S0001": "demo-Desk-2468", "S0002": "demo-Super-1357"}


def start_embedded(host: str, port: int, data_dir: str | Path, *, seed: bool = True,
                   timeout: float = 15.0, library_key: bytes | None = None) -> EmbeddedServer:
    """Start the embedded server on ``host:port`` (SQLite in ``data_dir``), seeded with the demo
    rows unless ``seed`` is false. Raises RuntimeError when it does not come up in time."""
    rows = None
    if seed:
        demo = demo_data.build_demo_rows(demo_data.load_profile())
        rows = {"staff": demo.staff, "reader": demo.readers, "card": demo.cards,
                "item": demo.items, "loan": demo.loans, "fee": demo.fees}
    return _start(host, port, data_dir, rows=rows, timeout=timeout, library_key=library_key,
                  web_passwords=DEMO_CONSOLE_LOGINS if seed else None)

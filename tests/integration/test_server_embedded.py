"""The embedded record server (kiosk demo): starts in a thread, seeded from the demo data,
serves a kiosk's pull, and stops."""

from __future__ import annotations

from pathlib import Path

import requests

from kiosk.embedded_server import start_embedded
from record_server import auth
from tests.support.postgres import free_port


def test_embedded_server_seeds_demo_data_and_stops(tmp_path: Path) -> None:
    port = free_port()
    handle = start_embedded("127.0.0.1", port, tmp_path)
    try:
        assert requests.get(f"{handle.url}/healthz", timeout=30).json() == {"status": "ok"}
        from library_core.clock import SystemClock

        code = auth.enroll_kiosk(handle.db, "K01", SystemClock())
        token = requests.post(f"{handle.url}/api/v1/kiosks/enroll", timeout=30,
                              json={"kiosk_id": "K01", "code": code}).json()["token"]
        entities, cursor, more = set(), 0, True
        while more:
            page = requests.get(f"{handle.url}/api/v1/kiosks/K01/changes", timeout=30,
                                params={"limit": 1000, "cursor": cursor},
                                headers={"Authorization": f"Bearer {token}"}).json()
            entities |= {c["entity"] for c in page["changes"]}
            cursor, more = page["next_cursor"], page["more"]
        assert {"reader", "card", "item", "staff"} <= entities
    finally:
        handle.stop()
    try:
        requests.get(f"{handle.url}/healthz", timeout=2)
        stopped = False
    except requests.ConnectionError:
        stopped = True
    assert stopped

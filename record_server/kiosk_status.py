"""Kiosks' device status: stored once per push (one upsert), read by the console's dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from library_core.contract import DeviceStatus
from record_server import models as m


def status_row(kiosk_id: str, status: DeviceStatus, received_at: str) -> dict[str, Any]:
    return {
        "kiosk_id": kiosk_id, "received_at": received_at, "reported_at": status.reported_at,
        "software_version": status.software_version, "card_reader": status.card_reader,
        "printer_online": status.printer.online, "printer_paper": status.printer.paper,
        "printer_cover_open": status.printer.cover_open, "scanner": status.scanner,
        "pending_events": status.pending_events, "last_sync_error": status.last_sync_error,
        **_ils_columns(status),
    }


def _ils_columns(status: DeviceStatus) -> dict[str, Any]:
    """The ILS link's columns (issue 15.3); all empty for a kiosk with no ILS."""
    ils = status.ils
    if ils is None:
        return {"ils_state": None, "ils_last_error": "", "ils_last_error_detail": "",
                "ils_last_error_at": None, "ils_queued": None}
    return {"ils_state": ils.state, "ils_last_error": ils.last_error,
            "ils_last_error_detail": ils.last_error_detail,
            "ils_last_error_at": ils.last_error_at, "ils_queued": ils.queued}


def record(conn: Connection, *, kiosk_id: str, status: DeviceStatus, received_at: str) -> None:
    """Keep ``status`` as the kiosk's latest (one INSERT ... ON CONFLICT UPDATE statement)."""
    row = status_row(kiosk_id, status, received_at)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(m.kiosk_status).values(**row)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[m.kiosk_status.c.kiosk_id],
        set_={k: v for k, v in row.items() if k != "kiosk_id"}))

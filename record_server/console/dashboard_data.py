"""The dashboard's figures: today's counts and money, as the report API gives them
(``today_report``: ``reports.range_report``'s one day, grouped by the database), and each
kiosk's health with its alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from record_server import models as m
from record_server.console import today_report

READER_GONE = ("no_reader", "no_service")


@dataclass(frozen=True)
class KioskHealth:
    """One kiosk as the dashboard shows it; ``alerts`` and ``warnings`` are message ids."""

    kiosk_id: str
    branch: str
    name: str
    revoked: bool
    last_seen: str | None
    pending_events: int | None
    card_reader: str
    printer_online: bool | None
    printer_paper: str
    cover_open: bool
    scanner: str
    software_version: str
    last_sync_error: str
    # the ILS link of a SIP2 kiosk (issue 15.3): "up" | "down" | None (no ILS)
    ils_state: str | None = None
    ils_last_error: str = ""
    ils_last_error_detail: str = ""
    ils_last_error_at: str | None = None
    ils_queued: int | None = None
    alerts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _latest(*stamps: str | None) -> str | None:
    found = [s for s in stamps if s]
    return max(found, key=dt.datetime.fromisoformat) if found else None


def _alerts(h: dict[str, Any], *, now: dt.datetime, silent: dt.timedelta) -> tuple[list[str],
                                                                                  list[str]]:
    alerts: list[str] = []
    warnings: list[str] = []
    seen = h["last_seen"]
    if seen is None or now - dt.datetime.fromisoformat(seen) > silent:
        alerts.append("console.alert.silent")
    if h["has_status"]:
        if h["printer_paper"] == "out":
            alerts.append("console.alert.paper_out")
        elif h["printer_paper"] == "near_end":
            warnings.append("console.alert.paper_near_end")
        if h["cover_open"]:
            alerts.append("console.alert.cover_open")
        if h["printer_online"] is False and h["printer_paper"] != "out" and not h["cover_open"]:
            alerts.append("console.alert.printer_offline")
        if h["card_reader"] in READER_GONE:
            alerts.append("console.alert.reader_gone")
        if h["scanner"] in ("offline",):
            warnings.append("console.alert.scanner_offline")
        if h["last_sync_error"]:
            alerts.append("console.alert.sync_error")
        if h["ils_state"] == "down":
            alerts.append("console.alert.ils_down")
    return alerts, warnings


def kiosk_health(conn: Connection, *, now: dt.datetime,
                 silent_minutes: int) -> list[KioskHealth]:
    """Every enrolled kiosk (revoked ones last), with its last reported device status."""
    k, s = m.kiosks.c, m.kiosk_status.c
    name_col = k.name if "name" in k else k.kiosk_id
    rows = conn.execute(
        select(k.kiosk_id, k.branch, k.revoked_at, k.last_push_at, name_col.label("name"),
               s.received_at, s.software_version, s.card_reader, s.printer_online,
               s.printer_paper, s.printer_cover_open, s.scanner, s.pending_events,
               s.last_sync_error, s.ils_state, s.ils_last_error, s.ils_last_error_detail,
               s.ils_last_error_at, s.ils_queued)
        .select_from(m.kiosks.outerjoin(m.kiosk_status, k.kiosk_id == s.kiosk_id))
        .order_by(k.revoked_at.is_not(None), k.kiosk_id)).all()
    out = []
    for r in rows:
        has_status = r.received_at is not None
        h = {
            "kiosk_id": r.kiosk_id, "branch": r.branch, "name": r.name or "",
            "revoked": r.revoked_at is not None,
            "last_seen": _latest(r.last_push_at, r.received_at),
            "pending_events": int(r.pending_events) if has_status else None,
            "card_reader": r.card_reader or "unknown",
            "printer_online": bool(r.printer_online) if has_status else None,
            "printer_paper": r.printer_paper or "unknown",
            "cover_open": bool(r.printer_cover_open), "scanner": r.scanner or "unknown",
            "software_version": r.software_version or "", "last_sync_error": r.last_sync_error or "",
            "has_status": has_status,
            "ils_state": r.ils_state, "ils_last_error": r.ils_last_error or "",
            "ils_last_error_detail": r.ils_last_error_detail or "",
            "ils_last_error_at": r.ils_last_error_at,
            "ils_queued": int(r.ils_queued) if r.ils_queued is not None else None,
        }
        alerts, warnings = ([], []) if h["revoked"] else _alerts(
            h, now=now, silent=dt.timedelta(minutes=silent_minutes))
        h.pop("has_status")
        out.append(KioskHealth(**h, alerts=alerts, warnings=warnings))
    return out


def today(conn: Connection, *, now: dt.datetime) -> dict[str, Any]:
    """Today's report (the same figures as ``GET /api/v1/reports/daily``), grouped by the
    database (``today_report``)."""
    return today_report.one_day(conn, now.date(), now)


def dashboard(conn: Connection, *, now: dt.datetime, silent_minutes: int) -> dict[str, Any]:
    health = kiosk_health(conn, now=now, silent_minutes=silent_minutes)
    report = today(conn, now=now)
    return {"report": report, "kiosks": health,
            "alerts": sum(len(h.alerts) for h in health),
            "warnings": sum(len(h.warnings) for h in health)}

"""One router per resource; ``create_app`` includes them all."""

from __future__ import annotations

from fastapi import APIRouter

from record_server.api.routers import (
    cards,
    conflicts,
    health,
    kiosk_staff,
    kiosks,
    loans,
    readers,
    reports,
    staff,
)

ALL: tuple[APIRouter, ...] = (health.router, kiosks.router, kiosk_staff.router, staff.router,
                              conflicts.router,
                              reports.router, cards.router, loans.router, readers.router)

"""``/healthz``: the database answers."""

from __future__ import annotations

from fastapi import APIRouter

from record_server.api.deps import ReadConn
from record_server.crud.health import ping
from record_server.responses import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(conn: ReadConn) -> Health:
    ping(conn)
    return Health(status="ok")

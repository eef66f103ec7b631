"""One access-log line per HTTP request (method, path, status, time, client, who), as plain ASGI.

It was ``@app.middleware("http")`` (Starlette's ``BaseHTTPMiddleware``): that runs every request
in a task group of its own with memory streams between it and the app, and on every request
cancels a scope whose message is built from the task's ``repr``. Under 200 kiosks that was a
fifth of the server's CPU (bench 5, py-spy), for a log line. This one only watches the
``http.response.start`` message go by. Bodies, PINs and tokens are never logged: only the
principal a dependency named (``request.state.principal``, e.g. ``kiosk:K01``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("record_server.access")


class AccessLog:
    """ASGI middleware: logs each HTTP request once it is answered (status 500 if it raised)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            state: Any = scope.get("state") or {}
            who = state.get("principal", "-") if isinstance(state, dict) else "-"
            client = scope.get("client")
            access_log.info("%s %s %s %.1fms client=%s who=%s", scope.get("method", "-"),
                            scope.get("path", "-"), status[0],
                            (time.perf_counter() - started) * 1000,
                            client[0] if client else "-", who)

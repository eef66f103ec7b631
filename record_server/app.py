"""The HTTP API (FastAPI). ``create_app(config)`` builds it; ``/openapi.json`` describes it.

Kiosk bearer tokens reach only ``/api/v1/kiosks/{own id}/events|changes``; everything else
needs a staff token from ``/api/v1/staff/login``. Bodies over ``max_body_bytes`` get 413,
malformed ones 422; every request is logged (method, path, status, who) without bodies,
PINs or tokens.

The routes live in one router per resource (``record_server.api.routers``); what they need
(database connection, clock, settings, the caller) is injected per request by the dependencies
in ``record_server.api.deps``, from the objects this function puts on ``app.state``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from library_core.clock import Clock, SystemClock
from record_server import __doc__ as package_doc
from record_server import auth, reader_hashes
from record_server.access_log import AccessLog
from record_server.api import routers
from record_server.config import ServerConfig
from record_server.console import mount_console
from record_server.crud.errors import DataError
from record_server.db import Database
from record_server.ereceipts.page import router as ereceipt_router
from record_server.ingest.push import PushPause

log = logging.getLogger(__name__)


def create_app(config: ServerConfig, *, clock: Clock | None = None,
               db: Database | None = None, push_pause: PushPause | None = None) -> FastAPI:
    """Build the API on ``config.database_url`` (migrated by the caller or ``serve``).

    ``push_pause`` is for the kill drills only (see ``apply.PushPause``): ``serve`` never
    passes one.
    """
    app = FastAPI(title="Library record server", version="1.0.0",
                  description=package_doc or "", openapi_url="/openapi.json",
                  max_body_size=config.max_body_bytes)
    app.state.db = db or Database(config.database_url)
    app.state.db.use_library_key(config.library_key)
    reader_hashes.fill_missing_at_start(app.state.db, config.library_key)
    app.state.config = config
    app.state.clock = clock or SystemClock()
    app.state.login_limiter = auth.RateLimiter(app.state.db, config.login_rate_per_minute,
                                               app.state.clock)
    app.state.push_pause = push_pause

    app.add_middleware(AccessLog)  # record_server.access_log: plain ASGI, no task per request

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"][1:] if len(first["loc"]) > 1 else first["loc"])
        return JSONResponse(status_code=422, content=jsonable_encoder(
            {"detail": f"invalid request: {where}: {first['msg']}", "errors": errors[:20]}))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc.detail)},
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})

    for router in routers.ALL:
        app.include_router(router)
    mount_console(app)  # the back office's pages at /console/ (record_server.console)
    app.include_router(ereceipt_router)  # the public e-receipt page /r/{token}
    return app

"""The HTTP API (FastAPI). ``create_app(config)`` builds it; ``/openapi.json`` describes it.

Kiosk bearer tokens reach only ``/api/v1/kiosks/{own id}/events|changes``; everything else
needs a staff token from ``/api/v1/staff/login``. Bodies over ``max_body_bytes`` get 413,
malformed ones 422; every request is logged (method, path, status, who) without bodies,
PINs or tokens.
"""


import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, select, update
from starlette.exceptions import HTTPException as StarletteHTTPException

from library_core.clock import Clock, SystemClock
from record_server import __doc__ as package_doc
from record_server import apply, auth, changes, reports
from record_server import models as m
from record_server import schemas as s
from record_server.config import ServerConfig
from record_server.crud import summary as summary_data
from record_server.db import Database

log = logging.getLogger(__name__)
access_log = logging.getLogger("record_server.access")

KioskIdPath = Annotated[str, Path(pattern=r"^K\d{2,4}$", max_length=8)]
CardNoPath = Annotated[str, Path(pattern=r"^2\d{13}$", max_length=14)]
BarcodePath = Annotated[str, Path(pattern=r"^3\d{13}$", max_length=14)]
LoanIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]+$", max_length=64)]

bearer = HTTPBearer(auto_error=False, description="Kiosk token (kt_...) or staff token (st_...)")
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": s.Problem}, 403: {"model": s.Problem}, 413: {"model": s.Problem},
    422: {"model": s.Problem}, 429: {"model": s.Problem},
}


def create_app(config: ServerConfig, *, clock: Clock | None = None,
               db: Database | None = None, push_pause: apply.PushPause | None = None) -> FastAPI:
    """Build the API on ``config.database_url`` (migrated by the caller or ``serve``).

    ``push_pause`` is for the kill drills only (see ``apply.PushPause``): ``serve`` never
    passes one.
    """
    clock = clock or SystemClock()
    db = db or Database(config.database_url)
    login_limiter = auth.RateLimiter(config.login_rate_per_minute)
    app = FastAPI(title="Library record server", version="1.0.0",
                  description=package_doc or "", openapi_url="/openapi.json",
                  max_body_size=config.max_body_bytes)
    app.state.db = db
    app.state.config = config

    @app.middleware("http")
    async def log_requests(request: Request,
                           call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            who = getattr(request.state, "principal", "-")
            access_log.info("%s %s %s %.1fms client=%s who=%s", request.method,
                            request.url.path, status, (time.perf_counter() - started) * 1000,
                            request.client.host if request.client else "-", who)

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

    # ---- principals ---------------------------------------------------------------------------

    def _token(creds: HTTPAuthorizationCredentials | None) -> str:
        if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        return creds.credentials

    def kiosk_principal(request: Request, kiosk_id: KioskIdPath,
                        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                        ) -> auth.KioskPrincipal:
        token = _token(creds)
        principal = auth.kiosk_for_token(db, token)
        if principal is None:
            if auth.staff_for_token(db, token, clock) is not None:
                raise HTTPException(403, "staff tokens cannot use kiosk sync endpoints")
            raise HTTPException(401, "unknown or revoked kiosk token",
                                headers={"WWW-Authenticate": "Bearer"})
        request.state.principal = f"kiosk:{principal.kiosk_id}"
        if principal.kiosk_id != kiosk_id:
            raise HTTPException(403, "a kiosk token reaches only its own kiosk's data")
        return principal

    def staff_principal(request: Request,
                        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                        ) -> auth.StaffPrincipal:
        token = _token(creds)
        principal = auth.staff_for_token(db, token, clock)
        if principal is None:
            if auth.kiosk_for_token(db, token) is not None:
                raise HTTPException(403, "kiosk tokens cannot use staff endpoints")
            raise HTTPException(401, "staff log-in needed", headers={"WWW-Authenticate": "Bearer"})
        request.state.principal = f"staff:{principal.staff_no}"
        return principal

    def supervisor(staff: Annotated[auth.StaffPrincipal, Depends(staff_principal)]
                   ) -> auth.StaffPrincipal:
        if staff.role != "supervisor":
            raise HTTPException(403, "supervisor role needed")
        return staff

    Kiosk = Annotated[auth.KioskPrincipal, Depends(kiosk_principal)]
    Staff = Annotated[auth.StaffPrincipal, Depends(staff_principal)]
    Supervisor = Annotated[auth.StaffPrincipal, Depends(supervisor)]

    def rate_limit(request: Request, bucket: str) -> None:
        client = request.client.host if request.client else "-"
        wait = login_limiter.check(f"{bucket}:{client}")
        if wait:
            raise HTTPException(429, "too many attempts; try again later",
                                headers={"Retry-After": str(wait)})

    # ---- endpoints ---------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with db.read() as conn:
            conn.execute(select(m.server_state.c.last_change_seq)).first()
        return {"status": "ok"}

    @app.post("/api/v1/kiosks/enroll", tags=["kiosk"], response_model=s.TokenResponse,
              responses=ERRORS)
    def enroll(body: s.EnrollRequest, request: Request) -> s.TokenResponse:
        rate_limit(request, "enroll")
        token = auth.exchange_code(db, body.kiosk_id, body.code, clock)
        if token is None:
            raise HTTPException(401, "unknown kiosk or wrong, used or expired enrollment code")
        log.info("kiosk %s enrolled", body.kiosk_id)
        return s.TokenResponse(token=token)

    @app.post("/api/v1/kiosks/{kiosk_id}/events", tags=["kiosk"], response_model=s.PushResponse,
              responses={**ERRORS, 503: {"model": s.Problem}})
    def push_events(kiosk_id: KioskIdPath, body: s.PushRequest, kiosk: Kiosk) -> s.PushResponse:
        if len(body.events) > config.max_batch:
            raise HTTPException(422, f"at most {config.max_batch} events per push")
        for env in body.events:
            if env.kiosk_id != kiosk.kiosk_id:
                raise HTTPException(403, "events must belong to the pushing kiosk")
        try:
            results, next_seq = apply.push(db, kiosk_id=kiosk.kiosk_id, envelopes=body.events,
                                           schedule=config.fee_schedule, clock=clock,
                                           pause=push_pause)
        except apply.KioskGone:
            raise HTTPException(401, "unknown or revoked kiosk token") from None
        except apply.Busy as busy:
            raise HTTPException(503, "busy with concurrent batches; retry",
                                headers={"Retry-After": str(busy.retry_after)}) from None
        return s.PushResponse(results=[s.EventResult(**r) for r in results], next_seq=next_seq)

    @app.get("/api/v1/kiosks/{kiosk_id}/changes", tags=["kiosk"], response_model=s.ChangesPage,
             responses=ERRORS)
    def pull_changes(kiosk_id: KioskIdPath, kiosk: Kiosk,
                     cursor: Annotated[int, Query(ge=0, le=s.MAX_SEQ)] = 0,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> dict[str, Any]:
        with db.read() as conn:
            return changes.page(conn, cursor, min(limit, config.max_page))

    @app.post("/api/v1/staff/login", tags=["staff"], response_model=s.StaffTokenResponse,
              responses=ERRORS | {423: {"model": s.Problem}})
    def staff_login(body: s.StaffLogin, request: Request) -> s.StaffTokenResponse:
        rate_limit(request, "login")
        try:
            token, who, expires = auth.staff_login(db, body.staff_no, body.pin, clock,
                                                   hours=config.staff_session_hours)
        except auth.LoginRefused as err:
            if err.reason == "locked":
                raise HTTPException(423, "account locked after too many wrong PINs") from None
            raise HTTPException(401, "wrong staff number or PIN") from None
        request.state.principal = f"staff:{who.staff_no}"
        return s.StaffTokenResponse(token=token, staff_no=who.staff_no, role=who.role,
                                    expires_at=expires)

    @app.get("/api/v1/conflicts", tags=["staff"], response_model=list[s.ConflictPublic],
             responses=ERRORS)
    def list_conflicts(staff: Staff,
                       rule: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
        q = select(m.conflicts).order_by(m.conflicts.c.id.desc()).limit(limit)
        if rule:
            q = q.where(m.conflicts.c.rule == rule)
        with db.read() as conn:
            rows = conn.execute(q).all()
        return [dict(r._mapping) | {"detail": json.loads(r.detail), "resolved": bool(r.resolved)}
                for r in rows]

    @app.get("/api/v1/rules", tags=["staff"], responses=ERRORS)
    def list_rules(staff: Staff) -> dict[str, str]:
        return dict(apply.RULES)

    @app.get("/api/v1/reports/daily", tags=["staff"], responses=ERRORS | {
        200: {"content": {"application/json": {}, "text/csv": {}}}})
    def daily_report(staff: Staff, date: Annotated[dt.date | None, Query()] = None,
                     format: Annotated[Literal["json", "csv"], Query()] = "json") -> Response:
        now = clock.now()
        day = date or now.date()
        if not 2000 <= day.year <= 2200:
            raise HTTPException(422, "date out of range")
        with db.read() as conn:
            report = reports.daily_report(conn, day, now)
        if format == "csv":
            return PlainTextResponse(reports.report_csv(report), media_type="text/csv",
                                     headers={"Content-Disposition":
                                              f'attachment; filename="daily-{day}.csv"'})
        return JSONResponse(report)

    @app.get("/api/v1/summary", tags=["staff"], responses=ERRORS)
    def summary(staff: Staff) -> dict[str, Any]:
        """Counts and money totals (fen) over everything held: for audits and drills."""
        with db.read() as conn:
            def count(table: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            pay = conn.execute(select(m.payments.c.kind, func.count(), func.coalesce(
                func.sum(m.payments.c.amount), 0)).group_by(m.payments.c.kind)).all()
            fee_sum = conn.execute(select(func.coalesce(func.sum(m.fees.c.amount), 0),
                                          func.coalesce(func.sum(m.fees.c.paid), 0))).one()
            credit = conn.execute(select(func.coalesce(func.sum(m.readers.c.credit), 0))).scalar_one()
            return {
                "readers": count(m.readers), "cards": count(m.cards), "fees": count(m.fees),
                "loans": count(m.loans), "visits": count(m.visits),
                "conflicts": count(m.conflicts),
                "payments": {r[0]: {"count": int(r[1]), "amount": int(r[2])} for r in pay},
                "fees_amount": int(fee_sum[0]), "fees_paid": int(fee_sum[1]),
                "credit": int(credit), "events": summary_data.event_counts(conn),
            }

    @app.post("/api/v1/kiosks/{kiosk_id}/revoke", tags=["staff"], response_model=s.RevokeResponse,
              responses=ERRORS | {404: {"model": s.Problem}})
    def revoke(kiosk_id: KioskIdPath, staff: Supervisor) -> s.RevokeResponse:
        when = auth.revoke_kiosk(db, kiosk_id, clock)
        if when is None:
            raise HTTPException(404, "no such kiosk")
        log.info("kiosk %s revoked by %s", kiosk_id, staff.staff_no)
        return s.RevokeResponse(kiosk_id=kiosk_id, revoked_at=when)

    @app.get("/api/v1/cards/{card_no}", tags=["staff"], response_model=s.CardPublic,
             responses=ERRORS | {404: {"model": s.Problem}})
    def get_card(card_no: CardNoPath, staff: Staff) -> dict[str, Any]:
        with db.read() as conn:
            row = conn.execute(select(m.cards).where(m.cards.c.card_no == card_no)).first()
        if row is None:
            raise HTTPException(404, "no such card")
        return dict(row._mapping)

    @app.post("/api/v1/cards/{card_no}/block", tags=["staff"], response_model=s.CardPublic,
              responses=ERRORS | {404: {"model": s.Problem}})
    def block_card(card_no: CardNoPath, body: s.BlockCardRequest, staff: Staff) -> dict[str, Any]:
        now = clock.now().isoformat()
        with db.write() as conn:
            row = conn.execute(select(m.cards).where(m.cards.c.card_no == card_no)).first()
            if row is None:
                raise HTTPException(404, "no such card")
            if row.status == "active" or (row.status == "lost" and body.reason == "cancelled"):
                conn.execute(update(m.cards).where(m.cards.c.card_no == card_no)
                             .values(status=body.reason))
            conn.execute(m.desk_actions.insert().values(
                staff_no=staff.staff_no, action=f"card.block.{body.reason}", target=card_no,
                detail=json.dumps({"note": body.note}, ensure_ascii=True), at=now))
            changes.publish(conn, {"card": {card_no}})
            row = conn.execute(select(m.cards).where(m.cards.c.card_no == card_no)).one()
        log.info("card %s blocked (%s) at the desk by %s", card_no, body.reason, staff.staff_no)
        return dict(row._mapping)

    @app.put("/api/v1/items/{barcode}", tags=["staff"], responses=ERRORS)
    def put_item(barcode: BarcodePath, body: s.ItemUpsert, staff: Staff) -> dict[str, Any]:
        if body.barcode != barcode:
            raise HTTPException(422, "barcode in the path and the body differ")
        with db.write() as conn:
            row = conn.execute(select(m.items.c.status).where(m.items.c.barcode == barcode)).first()
            values = {"title": body.title, "author": body.author, "call_no": body.call_no,
                      "hold": body.hold}
            if row is None:
                conn.execute(m.items.insert().values(barcode=barcode, status="available", **values))
            else:
                conn.execute(update(m.items).where(m.items.c.barcode == barcode).values(**values))
            changes.publish(conn, {"item": {barcode}})
        return {"barcode": barcode, **values}

    @app.post("/api/v1/loans", tags=["staff"], status_code=201,
              responses=ERRORS | {404: {"model": s.Problem}, 409: {"model": s.Problem}})
    def create_loan(body: s.LoanCreate, staff: Staff) -> dict[str, Any]:
        borrowed = (body.borrowed_at or clock.now()).isoformat()
        with db.write() as conn:
            item = conn.execute(select(m.items).where(m.items.c.barcode == body.item_barcode)).first()
            reader = conn.execute(select(m.readers.c.reader_id, m.readers.c.merged_into)
                                  .where(m.readers.c.reader_id == body.reader_id)).first()
            if item is None or reader is None:
                raise HTTPException(404, "no such item or reader")
            if item.status != "available":
                raise HTTPException(409, "item is not available")
            if conn.execute(select(m.loans.c.loan_id).where(m.loans.c.loan_id == body.loan_id)).first():
                raise HTTPException(409, "loan id already used")
            reader_id = reader.merged_into or reader.reader_id
            conn.execute(m.loans.insert().values(
                loan_id=body.loan_id, item_barcode=body.item_barcode, reader_id=reader_id,
                borrowed_at=borrowed, due_on=body.due_on.isoformat(), renewals=0))
            conn.execute(update(m.items).where(m.items.c.barcode == body.item_barcode)
                         .values(status="on_loan"))
            changes.publish(conn, {"loan": {body.loan_id}, "item": {body.item_barcode}})
        return {"loan_id": body.loan_id, "item_barcode": body.item_barcode,
                "reader_id": reader_id, "borrowed_at": borrowed, "due_on": body.due_on.isoformat()}

    @app.post("/api/v1/loans/{loan_id}/renew", tags=["staff"],
              responses=ERRORS | {404: {"model": s.Problem}, 409: {"model": s.Problem}})
    def renew_loan(loan_id: LoanIdPath, body: s.LoanRenew, staff: Staff) -> dict[str, Any]:
        with db.write() as conn:
            loan = conn.execute(select(m.loans).where(m.loans.c.loan_id == loan_id)).first()
            if loan is None:
                raise HTTPException(404, "no such loan")
            if loan.returned_at is not None:
                raise HTTPException(409, "loan already returned")
            if body.due_on.isoformat() <= loan.due_on:
                raise HTTPException(409, "a renewal must move the due date later")
            conn.execute(update(m.loans).where(m.loans.c.loan_id == loan_id).values(
                due_on=body.due_on.isoformat(), renewals=m.loans.c.renewals + 1))
            conn.execute(m.desk_actions.insert().values(
                staff_no=staff.staff_no, action="loan.renew", target=loan_id,
                detail=json.dumps({"due_on": body.due_on.isoformat()}),
                at=clock.now().isoformat()))
            changes.publish(conn, {"loan": {loan_id}})
        return {"loan_id": loan_id, "due_on": body.due_on.isoformat()}

    return app

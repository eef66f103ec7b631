"""``GET /r/{token}``: the e-receipt on a phone, public (the token is the permission).

No log-in; at most ``RATE_PER_MINUTE`` look-ups per client address per minute (429 after,
counted in the database like the log-in limit, so every worker shares it); a token that is not
well formed, unknown, or altered in any character answers the same 404 page, so the answers
tell nothing about other receipts. A receipt issued more than ``ereceipt_days`` ago (server
config, ``RECORD_SERVER_ERECEIPT_DAYS``, default 365) answers 410 "expired", showing nothing of
it. Only what the printed receipt shows (masked) is shown, in
Chinese or English (``?lang=``; default the receipt's language). The page is never cached,
sends no referrer (the token is in its address) and asks not to be indexed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from library_core.ereceipts import receipt_from_document, token_hash, well_formed
from library_core.i18n import translate
from library_core.receipts import Receipt
from record_server import models as m
from record_server.auth import RateLimiter
from record_server.db import Database
from record_server.ereceipts.view import receipt_view
from record_server.office_tables import ereceipts

RATE_PER_MINUTE = 30
LANGUAGES = ("zh_CN", "en")
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter = getattr(state, "ereceipt_limiter", None)
    if limiter is None:
        limiter = state.ereceipt_limiter = RateLimiter(state.db, RATE_PER_MINUTE, state.clock)
    return cast(RateLimiter, limiter)


def _find(db: Database, token: str, expires_before: dt.datetime
          ) -> tuple[Receipt, bool] | str | None:
    """The receipt of ``token`` and whether it agrees with the server's payment; ``expired``
    for one issued before ``expires_before``; None for no such token."""
    with db.read() as conn:
        row = conn.execute(select(ereceipts).where(
            ereceipts.c.token_hash == token_hash(token))).first()
        if row is None:
            return None
        if dt.datetime.fromisoformat(row.issued_at) < expires_before:
            return "expired"
        paid = conn.execute(select(m.payments.c.amount, m.payments.c.method).where(
            m.payments.c.receipt_no == row.receipt_no)).first()
    receipt = receipt_from_document(row.receipt_no, json.loads(row.body))
    agrees = paid is None or (paid.amount == receipt.total
                              and paid.method == receipt.payment_method)
    return receipt, agrees


def _page(request: Request, template: str, lang: str, status: int,
          context: dict[str, Any]) -> HTMLResponse:
    def t(message_id: str, **params: Any) -> str:
        return translate(message_id, lang, **params)

    response = templates.TemplateResponse(
        request, template, {"t": t, "lang": lang, "path": request.url.path, **context},
        status_code=status, headers=HEADERS)
    return cast(HTMLResponse, response)


@router.get("/r/{token}")
async def ereceipt(request: Request, token: str, lang: str = "") -> Response:
    client = request.client.host if request.client else "-"
    wait = await run_in_threadpool(_limiter(request).check, f"ereceipt:{client}")
    language = lang if lang in LANGUAGES else ""
    if wait:
        refused = _page(request, "ereceipt_missing.html", language or "zh_CN", 429,
                        {"reason": "ereceipt.too_many"})
        refused.headers["Retry-After"] = str(wait)
        return refused
    state = request.app.state
    oldest = state.clock.now() - dt.timedelta(days=state.config.ereceipt_days)
    found = await run_in_threadpool(_find, state.db, token, oldest) \
        if well_formed(token) else None
    if found is None:
        return _page(request, "ereceipt_missing.html", language or "zh_CN", 404,
                     {"reason": "ereceipt.not_found"})
    if isinstance(found, str):  # "expired"
        return _page(request, "ereceipt_missing.html", language or "zh_CN", 410,
                     {"reason": "ereceipt.expired", "days": state.config.ereceipt_days})
    receipt, agrees = found
    language = language or (receipt.language if receipt.language in LANGUAGES else "zh_CN")
    return _page(request, "ereceipt.html", language, 200,
                 {"r": receipt_view(receipt, language), "agrees": agrees})

"""The review queue: conflicts with the rule that decided, rejected events with the server's
reason, offline staff actions awaiting a supervisor. Everyone may look; resolving one (upheld,
overruled or noted, with a note) is a supervisor's and is recorded and audited
(``review_data.resolve``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from library_core.i18n import has_message, translate
from library_core.money import format_fen
from record_server import apply
from record_server.console import review_data
from record_server.console.sessions import ConsoleUser
from record_server.console.web import (
    NavItem,
    Refused,
    clock_of,
    console_staff,
    db_of,
    language,
    render,
)

router = APIRouter(prefix="/console", include_in_schema=False)
NAV = (NavItem("console.nav.review", "/console/review", "auditor", 70),)
Reader = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Supervisor = Annotated[ConsoleUser, Depends(console_staff("supervisor"))]
TABS = ("conflict", "offline", "rejected")


def rule_texts(rules: set[str], lang: str) -> dict[str, str]:
    """What each rule decided, in ``lang`` (``console.rev.rule.<rule>``); a rule the catalogs
    do not name yet shows the server's own (English) description."""
    out = {}
    for rule in rules:
        key = f"console.rev.rule.{rule}"
        out[rule] = (translate(key, lang) if has_message(key, lang)
                     else dict(apply.RULES).get(rule, ""))
    return out


@router.get("/review")
def review(request: Request, user: Reader,
           tab: Annotated[str, Query(max_length=10)] = "conflict",
           show: Annotated[str, Query(max_length=4)] = "open",
           done: Annotated[str, Query(max_length=10)] = "") -> Response:
    if tab not in TABS or show not in ("open", "all"):
        raise Refused(422, "console.error.bad_filter")
    open_only = show == "open"
    with db_of(request).read() as conn:
        counts = review_data.open_counts(conn)
        if tab == "rejected":
            items = review_data.rejected(conn, open_only=open_only)
        else:
            items = review_data.conflicts(conn, offline=tab == "offline", open_only=open_only)
    rules = rule_texts({str(it["rule"]) for it in items if it.get("rule")}, language(request))
    return render(request, "c2/review.html", {
        "tab": tab, "show": show, "items": items, "counts": counts, "rules": rules,
        "fen": format_fen,
        "decisions": review_data.DECISIONS,
        "notice": "console.review.resolved" if done else None}, user=user)


@router.post("/review/{kind}/{item_id}/resolve")
async def resolve(request: Request, user: Supervisor, kind: str, item_id: str,
                  decision: Annotated[str, Form(max_length=16)],
                  note: Annotated[str, Form(max_length=300)] = "") -> Response:
    if kind not in TABS or len(item_id) > 64:
        raise Refused(404, "console.review.not_found")
    res = review_data.Resolution(kind=kind, item_id=item_id, decision=decision, note=note)
    try:
        await run_in_threadpool(review_data.resolve, db_of(request), res,
                                staff_no=user.staff_no, now=clock_of(request).now())
    except review_data.ReviewRefused as err:
        raise Refused(err.status, err.reason) from None
    return RedirectResponse(f"/console/review?tab={kind}&done=1", status_code=303)

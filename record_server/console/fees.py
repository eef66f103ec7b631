"""Console page for the fee schedule (issue 12 point 10): the schedule in force today, the ones
set for later days, and (supervisors) a new schedule from a date after today.

Amounts are typed in yuan (``12.50``) and kept in fen; the whole schedule is checked by the
kiosks' own rule (``library_core.fees.fee_schedule_from_dict``), and a refusal names the field
and changes nothing. A saved schedule is audited (before/after) and published to kiosks in the
same transaction (``record_server.fee_schedules``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from library_core.clock import CHINA_TZ
from library_core.errors import ConfigError
from library_core.fees import FeeSchedule, ReaderCategory, fee_schedule_from_dict
from record_server import fee_schedules
from record_server.console import audit
from record_server.console.sessions import ConsoleUser
from record_server.console.web import (
    NavItem,
    clock_of,
    config_of,
    console_staff,
    db_of,
    render,
)

router = APIRouter(prefix="/console/fees", include_in_schema=False)
NAV = (NavItem("console.nav.fees", "/console/fees", "auditor", 75),)
Viewer = Annotated[ConsoleUser, Depends(console_staff("auditor"))]
Supervisor = Annotated[ConsoleUser, Depends(console_staff("supervisor"))]

AMOUNTS = ("replacement_fee", "renewal_fee", "overdue_fine_per_day",
           "overdue_fine_cap_per_item", "renewal_refused_above")
COUNTS = ("card_validity_months", "loan_days")
CATEGORY_AMOUNTS = tuple(f"categories.{c}.{k}" for c in ReaderCategory
                         for k in ("deposit", "card_fee"))
FIELDS = ("effective_from", *CATEGORY_AMOUNTS, *AMOUNTS, "renewal_periods_months", *COUNTS)
_YUAN = re.compile(r"^-?\d{1,8}(\.\d{1,2})?$")


class FieldRefused(Exception):
    """A form field the schedule's rules refuse: its name and the reason's message id."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _fen(field: str, text: str) -> int:
    value = text.strip().replace("，", ".").replace("￥", "").replace("¥", "")
    if not _YUAN.fullmatch(value):
        raise FieldRefused(field, "console.fees.error.amount")
    try:
        return int(Decimal(value) * 100)
    except InvalidOperation:
        raise FieldRefused(field, "console.fees.error.amount") from None


def _count(field: str, text: str) -> int:
    if not re.fullmatch(r"\d{1,4}", text.strip()):
        raise FieldRefused(field, "console.fees.error.count")
    return int(text)


def _reason_of(field: str) -> str:
    if field == "renewal_periods_months":
        return "console.fees.error.periods"
    if field in COUNTS:
        return f"console.fees.error.{field}"
    return "console.fees.error.negative"


def schedule_from_form(form: Mapping[str, str], now: dt.datetime) -> tuple[dt.date, FeeSchedule]:
    """The date and schedule a form holds. Raises FieldRefused naming the first bad field."""
    try:
        effective_from = dt.date.fromisoformat(form.get("effective_from", "").strip())
    except ValueError:
        raise FieldRefused("effective_from", "console.fees.error.date") from None
    if not fee_schedules.after_today(effective_from, now):
        raise FieldRefused("effective_from", "console.fees.error.date_not_future")
    data: dict[str, Any] = {"categories": {}}
    for name in CATEGORY_AMOUNTS:
        _, category, key = name.split(".")
        data["categories"].setdefault(category, {})[key] = _fen(name, form.get(name, ""))
    for name in AMOUNTS:
        data[name] = _fen(name, form.get(name, ""))
    periods = [p for p in re.split(r"[,，\s]+", form.get("renewal_periods_months", "")) if p]
    if not all(re.fullmatch(r"\d{1,3}", p) for p in periods):
        raise FieldRefused("renewal_periods_months", "console.fees.error.periods")
    data["renewal_periods_months"] = sorted({int(p) for p in periods})
    for name in COUNTS:
        data[name] = _count(name, form.get(name, ""))
    try:  # the kiosks' own rule decides
        schedule = fee_schedule_from_dict(data)
    except ConfigError as err:
        field = err.key.removeprefix("fees.")
        raise FieldRefused(field, _reason_of(field)) from err
    return effective_from, schedule


def _form_values(schedule: FeeSchedule) -> dict[str, str]:
    d = schedule.to_dict()
    values = {name: f"{d[name] / 100:.2f}" for name in AMOUNTS}
    for name in CATEGORY_AMOUNTS:
        _, category, key = name.split(".")
        values[name] = f"{d['categories'][category][key] / 100:.2f}"
    values["renewal_periods_months"] = ", ".join(str(p) for p in d["renewal_periods_months"])
    values.update({name: str(d[name]) for name in COUNTS})
    return values


def _page(request: Request, user: ConsoleUser, *, values: Mapping[str, str] | None = None,
          refused: FieldRefused | None = None, status: int = 200) -> Response:
    config, now = config_of(request), clock_of(request).now()
    today = now.astimezone(CHINA_TZ).date()
    with db_of(request).read() as conn:
        current = fee_schedules.in_force(conn, config.fee_schedule, today)
        later = [(day, s) for day, s in fee_schedules.dated(conn) if day > today.isoformat()]
    if values is None:
        values = {**_form_values(current),
                  "effective_from": (today + dt.timedelta(days=1)).isoformat()}
    notice = "console.fees.saved" if request.query_params.get("done") == "saved" else ""
    return render(request, "fees/page.html", {
        "current": _form_values(current), "later": [(d, _form_values(s)) for d, s in later],
        "values": values, "refused": refused, "notice": notice, "fields": FIELDS,
        "categories": [str(c) for c in ReaderCategory], "amounts": AMOUNTS, "counts": COUNTS,
        "min_date": (today + dt.timedelta(days=1)).isoformat()}, user=user, status=status)


@router.get("")
def page(request: Request, user: Viewer) -> Response:
    return _page(request, user)


@router.post("")
async def save(request: Request, user: Supervisor) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    now = clock_of(request).now()
    try:
        effective_from, schedule = schedule_from_form(form, now)
    except FieldRefused as err:
        refused = err
        return await run_in_threadpool(lambda: _page(request, user, values=form,
                                                     refused=refused, status=422))

    def store() -> None:
        with db_of(request).write() as conn:
            before = fee_schedules.save(conn, effective_from=effective_from,
                                        schedule=schedule, staff_no=user.staff_no, now=now)
            audit.record(conn, staff_no=user.staff_no, action="fee_schedule.save", now=now,
                         target=effective_from.isoformat(), before=before or {},
                         after=schedule.to_dict())

    await run_in_threadpool(store)
    return RedirectResponse("/console/fees?done=saved", status_code=303)

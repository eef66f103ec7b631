"""The desk role is refused every supervisor-only console action (issue 12 point 1), in Chromium
against the real server process: for each route whose dependency asks for a supervisor (found
by walking the console's routers, so a new one without a case here fails the first test), a
signed-in desk member sends the action a supervisor would send, with the session's CSRF token,
and gets 403 ``console.error.role``; no table of the database (but the session and rate-limit
rows) and no file of the server's data folder changes. The same request from a supervisor is
then not refused for its role, so the 403 was the role's.

The targets come from a kiosk's own use cases pushed to the server (a reader with a card and an
overdue fine, a second reader, a rejected event), a kiosk and a staff member of their own, and
an import the supervisor started.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib
import inspect
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text
from sqlalchemy import inspect as sa_inspect

from library_core.clock import CHINA_TZ, FixedClock
from record_server.console import PAGE_MODULES
from tests.server.test_forged_claims import Pusher, new_reader, open_fine
from tests.support.bills import BillTrade, wechat_bill
from tests.support.console_browser import browser_fixture, csrf_of, log_in  # noqa: F401
from tests.support.import_files import READER_HEADER, csv_bytes
from tests.support.server_process import ServerProcess
from tests.support.services import DESK, SUPERVISOR, make_env, resident_id

# rows these tables get from merely being signed in and sending requests
VOLATILE = {"console_sessions", "login_hits", "staff_sessions"}
REASON = re.compile(r'data-reason="([^"]+)"')


def _roles(dependant: Any) -> set[str]:
    """The ``console_staff(min_role)`` roles a route's dependencies ask for."""
    out: set[str] = set()
    for dep in dependant.dependencies:
        try:
            found = inspect.getclosurevars(dep.call).nonlocals.get("min_role")
        except TypeError:  # a class or builtin: no closure
            found = None
        if isinstance(found, str):
            out.add(found)
        out |= _roles(dep)
    return out


def supervisor_routes() -> set[tuple[str, str]]:
    out = set()
    for name in PAGE_MODULES:
        for route in importlib.import_module(name).router.routes:
            if isinstance(route, APIRoute) and "supervisor" in _roles(route.dependant):
                out |= {(method, route.path) for method in route.methods}
    return out


@dataclass
class Office:
    server: ServerProcess
    ids: dict[str, str] = field(default_factory=dict)
    fees: dict[str, str] = field(default_factory=dict)  # the fee form as the page fills it


@pytest.fixture(name="office", scope="module")
def office_fixture(tmp_path_factory: pytest.TempPathFactory, browser: Browser  # noqa: F811
                   ) -> Iterator[Office]:
    tmp = tmp_path_factory.mktemp("desk_limits")
    server = ServerProcess(tmp / "server")
    server.cli("migrate")
    server.create_staff(DESK[0], role="desk", pin=DESK[1], name="王芳")
    server.create_staff(SUPERVISOR[0], role="supervisor", pin=SUPERVISOR[1], name="李强")
    server.create_staff("S0009", role="desk", name="张三")
    server.start()
    env = make_env(tmp / "kiosk.sqlite3",
                   clock=FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0)))
    try:
        pusher = Pusher(server, env, server.enroll("K01"))
        server.enroll("K09")
        one = new_reader(pusher, 1)
        reader_id = one.reader_id
        fee_id = open_fine(pusher, reader_id)
        two = new_reader(pusher, 2)
        other_id = two.reader_id
        # a rejected event for the review queue: the kiosk's own fine, claimed for no reader
        rows = sorted(env.store.pending_events(10_000), key=lambda e: e["seq"])
        fine = copy.deepcopy(next(e for e in rows if e["kind"] == "fee.assessed"))
        fine.update(event_id=str(uuid.uuid4()))
        fine["payload"].update(fee_id="fee-forged", reader_id="no-such-reader")
        [result] = pusher.push([fine])
        assert result["status"] == "rejected", result
        sup = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="en")
        upload = sup.context.request.post(f"{server.url}/console/imports", max_redirects=0,
                                          multipart=_import_form(csrf_of(sup)))
        assert upload.status == 303, upload.text()
        job_id = upload.headers["location"].rsplit("/", 1)[1]
        sup.goto("/console/fees")
        fees = dict(sup.eval_on_selector_all(
            "form[data-form=fees] input[name]:not([type=hidden])",
            "els => els.map(e => [e.name, e.value])"))
        fees["effective_from"] = (env.clock.now().date() + dt.timedelta(days=30)).isoformat()
        sup.context.close()
        yield Office(server, {"reader": reader_id, "fee": fee_id, "other": other_id,
                              "event": fine["event_id"], "job": job_id}, fees)
    finally:
        env.store.close()
        server.kill()


def _import_form(csrf: str) -> dict[str, Any]:
    data = csv_bytes(READER_HEADER, [["赵六", resident_id(61), "13900000061", "adult", "", ""]])
    return {"csrf_token": csrf, "kind": "readers",
            "file": {"name": "readers.csv", "mimeType": "text/csv", "buffer": data}}


# (method, route, concrete path, form); {name} is filled from Office.ids; a form with "file"
# goes as multipart. The order keeps each supervisor control from spoiling a later case.
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/console/readers/{reader_id}/reveal", "/console/readers/{reader}/reveal",
     {"reason": "核对身份"}),
    ("POST", "/console/readers/{reader_id}/fees/{fee_id}/waive",
     "/console/readers/{reader}/fees/{fee}/waive", {"reason": "图书馆原因"}),
    ("POST", "/console/readers/{reader_id}/cancel", "/console/readers/{other}/cancel",
     {"reason": "读者搬走"}),
    ("POST", "/console/kiosks/{kiosk_id}/edit", "/console/kiosks/K09/edit",
     {"branch": "east", "name": "二楼"}),
    ("POST", "/console/kiosks/enroll", "/console/kiosks/enroll",
     {"kiosk_id": "K10", "branch": "main", "name": ""}),
    ("POST", "/console/kiosks/{kiosk_id}/revoke", "/console/kiosks/K09/revoke",
     {"reason": "stolen"}),
    ("POST", "/console/staff", "/console/staff",
     {"staff_no": "S0010", "name": "新同事", "role": "supervisor"}),
    ("POST", "/console/staff/{staff_no}/issue-code", "/console/staff/S0009/issue-code", {}),
    ("POST", "/console/staff/{staff_no}/reset-pin", "/console/staff/S0009/reset-pin", {}),
    ("POST", "/console/staff/{staff_no}/unlock", "/console/staff/S0009/unlock", {}),
    ("POST", "/console/staff/{staff_no}/role", "/console/staff/S0009/role",
     {"role": "supervisor"}),
    ("POST", "/console/staff/{staff_no}/deactivate", "/console/staff/S0009/deactivate", {}),
    ("POST", "/console/staff/{staff_no}/activate", "/console/staff/S0009/activate", {}),
    ("POST", "/console/review/{kind}/{item_id}/resolve", "/console/review/rejected/{event}/resolve",
     {"decision": "noted", "note": "desk tries"}),
    ("POST", "/console/fees", "/console/fees", {"fees": True}),
    ("POST", "/console/finance/reconcile", "/console/finance/reconcile",
     {"provider": "wechat", "file": {"name": "bill.csv", "mimeType": "text/csv", "buffer":
                                     wechat_bill([BillTrade("4200001", "K01-T1", 300)])}}),
    ("GET", "/console/imports", "/console/imports", {}),
    ("POST", "/console/imports", "/console/imports", {"import": True}),
    ("GET", "/console/imports/{job_id}", "/console/imports/{job}", {}),
    ("GET", "/console/imports/{job_id}/progress", "/console/imports/{job}/progress", {}),
    ("POST", "/console/imports/{job_id}/commit", "/console/imports/{job}/commit", {}),
    ("POST", "/console/ils/exceptions/{event_id}/resolve",
     f"/console/ils/exceptions/{uuid.UUID(int=7)}/resolve",
     {"decision": "noted", "note": "desk tries"}),
    ("POST", "/console/ils/export-readers", "/console/ils/export-readers",
     {"since": "2026-01-01", "format": "koha-csv"}),
]


def test_every_supervisor_only_route_has_a_case() -> None:
    assert {(m, r) for m, r, _p, _f in CASES} == supervisor_routes()


def _state(office: Office) -> tuple[dict[str, list[str]], list[tuple[str, int]]]:
    """Every table's rows but the session and rate-limit ones, and the data folder's files."""
    engine = create_engine(office.server.database_url)
    try:
        with engine.connect() as conn:
            tables = sorted(set(sa_inspect(conn).get_table_names()) - VOLATILE)
            rows = {t: sorted(repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{t}"')))
                    for t in tables}
    finally:
        engine.dispose()
    folder = office.server.data_dir
    files = sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*")
                   if p.is_file() and not p.name.startswith(("records.sqlite3", "server.log")))
    return rows, files


def _send(page: Page, office: Office, method: str, path: str, form: dict[str, Any]) -> Any:
    url = office.server.url + path.format(**office.ids)
    if method == "GET":
        return page.context.request.get(url, max_redirects=0)
    if form.get("import"):
        body = _import_form(csrf_of(page))
    else:
        body = {"csrf_token": csrf_of(page), **(office.fees if form.get("fees") else form)}
    if any(isinstance(v, dict) for v in body.values()):
        return page.context.request.post(url, multipart=body, max_redirects=0)
    return page.context.request.post(url, form=body, max_redirects=0)


@pytest.mark.parametrize(("method", "route", "path", "form"), CASES,
                         ids=[f"{m} {r}" for m, r, _p, _f in CASES])
def test_desk_is_refused_each_supervisor_action(
        browser: Browser, office: Office, method: str, route: str,  # noqa: F811
        path: str, form: dict[str, Any]) -> None:
    desk = log_in(browser, office.server, "desk", staff_no=DESK[0], lang="en")
    before = _state(office)
    refused = _send(desk, office, method, path, form)
    assert refused.status == 403, (route, refused.status)
    assert REASON.findall(refused.text()) == ["console.error.role"]
    assert _state(office) == before, route  # nothing written, no file kept
    desk.context.close()

    sup = log_in(browser, office.server, "supervisor", staff_no=SUPERVISOR[0], lang="en")
    allowed = _send(sup, office, method, path, form)
    # done (200 page, 303 onward); the ILS exception is made up (no SIP2 ILS here): not found
    done = {404} if route.startswith("/console/ils/exceptions/") else {200, 303}
    assert allowed.status in done, (route, allowed.status, allowed.text()[:500])
    sup.context.close()

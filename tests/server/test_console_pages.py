"""The console's readers, kiosks, staff and audit pages in Chromium against the real server
process (issue 12 points 5, 8 and 11). The reader and the fine come from a kiosk's own use
cases (a card issued, a return past its due date) pushed to the server; then a supervisor finds
the reader three ways, sees the file masked in both languages, reveals it (audited), waives the
fine, corrects the phone, and cancels with the deposit refunded; a desk member and an auditor
are refused what is not theirs, with nothing changed; a kiosk is enrolled from the console
(the code really enrolls it) and revoked (its token stops working); a member is created, sets a
password from the one-time code, and is deactivated (their session ends); the audit log finds
each action. ``CONSOLE_SCREENSHOTS=<dir>`` also saves the reader's page (zh_CN, en) there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text

from library_core.clock import CHINA_TZ, FixedClock
from library_core.identity import mask_resident_id
from tests.server.test_forged_claims import Pusher, new_reader, open_fine
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    csrf_of,
    log_in,
    new_page,
    post_as,
    visible_keys,
)
from tests.support.server_process import (  # noqa: F401
    STAFF_PASSWORD,
    ServerProcess,
    server_factory_fixture,
)
from tests.support.services import DESK, SUPERVISOR, make_env, make_reader

AUDITOR = "S0003"


@pytest.fixture(name="office")
def office_fixture(server_factory: Callable[..., ServerProcess],  # noqa: F811
                   tmp_path: Path) -> Iterator[Pusher]:
    """A server with the kiosk's staff (S0001 desk, S0002 supervisor) and an auditor, all with
    web passwords; kiosk K01 enrolled, its services on their own store, one reader with a card
    (deposit paid) and an open overdue fine, pushed."""
    srv = server_factory()
    srv.cli("migrate")
    srv.create_staff(DESK[0], role="desk", pin=DESK[1], name="王芳")
    srv.create_staff(SUPERVISOR[0], role="supervisor", pin=SUPERVISOR[1], name="李强")
    srv.create_staff(AUDITOR, role="auditor", name="赵审计")
    srv.start()
    token = srv.enroll("K01")
    env = make_env(tmp_path / "kiosk.sqlite3",
                   clock=FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0)))
    pusher = Pusher(srv, env, token)
    yield pusher
    env.store.close()


def _rows(server: ServerProcess, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def _audit(server: ServerProcess, action: str) -> list[Any]:
    return _rows(server, "SELECT * FROM audit_log WHERE action = :a ORDER BY id", a=action)


def _no_keys(page: Page) -> None:
    assert visible_keys(page) == [], (page.url, visible_keys(page))


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    target = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name), full_page=True)
    assert (target / name).stat().st_size > 10_000


def _reader_with_fine(p: Pusher) -> tuple[Any, str]:
    issued = new_reader(p)
    return issued, open_fine(p, issued.reader_id)


def test_a_supervisor_works_a_readers_file(browser: Browser, office: Pusher,
                                           tmp_path: Path) -> None:
    server = office.server
    issued, fee_id = _reader_with_fine(office)
    person = make_reader(1)
    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="zh_CN")
    for query in (issued.card_no, person.id_number, person.name[:1]):
        page.goto("/console/readers")
        page.fill("input[name=q]", query)
        click_and_load(page, "form.search button")
        assert page.locator("tbody a").count() == 1, query
        assert person.id_number not in page.inner_text("main")  # masked
        assert mask_resident_id(person.id_number) in page.inner_text("main")
        _no_keys(page)
    click_and_load(page, "tbody a")
    reader_url = page.url
    body = page.inner_text("main")
    assert issued.card_no in body and "红楼梦" in body and "逾期费" in body
    assert person.id_number not in body and person.phone not in body
    _no_keys(page)
    _shot(page, tmp_path, "console-reader-zh.png")
    click_and_load(page, "nav.lang a[lang=en]")
    assert page.url == reader_url and "Overdue" in page.inner_text("main")
    _no_keys(page)
    _shot(page, tmp_path, "console-reader-en.png")

    # reveal: the full numbers on this answer only, audited with the reason
    page.fill("form[action$='/reveal'] input[name=reason]", "reader on the phone")
    click_and_load(page, "button[data-action=reveal]")
    assert page.inner_text("[data-field=id_number]") == person.id_number
    assert page.inner_text("[data-field=phone]") == person.phone
    page.goto(reader_url)
    assert person.id_number not in page.inner_text("main")
    (reveal,) = _audit(server, "reader.reveal")
    assert (reveal.staff_no, reveal.reader_id, reveal.reason) == (
        SUPERVISOR[0], issued.reader_id, "reader on the phone")
    assert person.id_number not in reveal.after + reveal.before

    # waive the fine with a reason
    page.fill(f"form[action$='/fees/{fee_id}/waive'] input[name=reason]", "first time")
    click_and_load(page, f"form[action$='/fees/{fee_id}/waive'] button")
    assert "Fee waived" in page.inner_text("main .notice")
    assert _rows(server, "SELECT status FROM fees WHERE fee_id = :f", f=fee_id)[0].status == "waived"
    (waive,) = _audit(server, "fee.waive")
    assert json.loads(waive.before)["status"] == "open"
    assert json.loads(waive.after)["status"] == "waived" and waive.reason == "first time"

    # the phone: a bad number is refused and changes nothing; a good one is kept
    page.fill("form[action$='/phone'] input[name=phone]", "12345")
    click_and_load(page, "button[data-action=phone]")
    assert "11-digit" in page.inner_text("main .error")
    assert _rows(server, "SELECT phone FROM readers")[0].phone == person.phone
    page.goto(reader_url)
    page.fill("form[action$='/phone'] input[name=phone]", "13900001111")
    click_and_load(page, "button[data-action=phone]")
    assert _rows(server, "SELECT phone FROM readers")[0].phone == "13900001111"
    assert json.loads(_audit(server, "reader.phone")[0].after) == {"phone": "139****1111"}

    # cancel and refund the deposit the kiosk took
    (deposit,) = _rows(server, "SELECT paid FROM fees WHERE kind = 'deposit'")
    page.fill("form[action$='/cancel'] input[name=reason]", "moving away")
    click_and_load(page, "button[data-action=cancel]")
    assert "deposit refunded" in page.inner_text("main .notice")
    assert [r.status for r in _rows(server, "SELECT status FROM cards")] == ["cancelled"]
    (refund,) = _rows(server, "SELECT * FROM payments WHERE kind = 'refund'")
    assert (refund.amount, refund.staff_no, refund.reader_id) == (
        deposit.paid, SUPERVISOR[0], issued.reader_id)
    assert json.loads(_audit(server, "reader.cancel_refund")[0].after)["refund"] == deposit.paid
    # nothing left to refund: a second try is refused by the rule, with its reason shown
    page.fill("form[action$='/cancel'] input[name=reason]", "again")
    click_and_load(page, "button[data-action=cancel]")
    assert "no deposit to refund" in page.inner_text("main .error")
    assert len(_rows(server, "SELECT * FROM payments WHERE kind = 'refund'")) == 1


def test_desk_and_auditor_are_refused_what_is_not_theirs(browser: Browser,
                                                         office: Pusher) -> None:
    server = office.server
    issued, fee_id = _reader_with_fine(office)
    desk = log_in(browser, server, "desk", staff_no=DESK[0], lang="en")
    desk.goto(f"/console/readers/{issued.reader_id}")
    _no_keys(desk)
    assert desk.locator("button[data-action=lost]").count() == 1  # a desk action: offered
    for action in ("waive", "cancel", "reveal"):
        assert desk.locator(f"button[data-action={action}]").count() == 0
    before = _rows(server, "SELECT * FROM fees ORDER BY fee_id")
    assert post_as(desk, f"/console/readers/{issued.reader_id}/fees/{fee_id}/waive",
                   {"reason": "x"}) == 403
    assert post_as(desk, f"/console/readers/{issued.reader_id}/cancel", {"reason": "x"}) == 403
    assert post_as(desk, f"/console/readers/{issued.reader_id}/reveal", {"reason": "x"}) == 403
    assert post_as(desk, "/console/staff", {"staff_no": "S0009", "name": "x",
                                            "role": "supervisor"}) == 403
    assert post_as(desk, "/console/kiosks/K01/revoke", {"reason": "x"}) == 403
    assert _rows(server, "SELECT * FROM fees ORDER BY fee_id") == before
    desk.goto("/console/staff")
    assert desk.locator("button[data-action=deactivate]").count() == 0

    auditor = log_in(browser, server, "auditor", staff_no=AUDITOR, lang="zh_CN")
    auditor.goto(f"/console/readers/{issued.reader_id}")
    assert auditor.locator("button[data-action]").count() == 0  # read-only
    assert post_as(auditor, f"/console/readers/{issued.reader_id}/cards/{issued.card_no}/lost",
                   {"note": ""}) == 403
    refused = auditor.context.request.post(
        f"{server.url}/console/readers/{issued.reader_id}/phone", max_redirects=0,
        form={"csrf_token": csrf_of(auditor), "phone": "13900001111"})
    assert refused.status == 403 and "您的角色不能执行此操作" in refused.text()
    assert _rows(server, "SELECT status FROM cards")[0].status == "active"
    assert _rows(server, "SELECT count(*) AS n FROM audit_log WHERE action NOT LIKE 'session.%'"
                 )[0].n == 0


def test_kiosks_staff_and_the_audit_log(browser: Browser, office: Pusher) -> None:
    server = office.server
    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="en")
    page.goto("/console/kiosks")
    page.fill("form[action$='/enroll'] input[name=kiosk_id]", "K07")
    page.fill("form[action$='/enroll'] input[name=name]", "一楼大厅")
    page.fill("form[action$='/enroll'] input[name=branch]", "east")
    click_and_load(page, "button[data-action=enroll]")
    code = page.inner_text("[data-code]").strip()
    assert page.locator("#enrolled .qr svg").count() == 1
    _no_keys(page)
    enrolled = requests.post(f"{server.url}/api/v1/kiosks/enroll", timeout=10,
                             json={"kiosk_id": "K07", "code": code})
    assert enrolled.status_code == 200, enrolled.text
    token = enrolled.json()["token"]
    page.goto("/console/kiosks")
    row = page.locator("tr[data-kiosk=K07]")
    assert "一楼大厅" in row.inner_html() and "east" in row.inner_html()
    assert "Enrolled" in row.inner_text()
    assert server.get("/api/v1/kiosks/K07/changes", token).status_code == 200
    row.locator("input[name=reason]").fill("stolen")
    click_and_load(page, row.locator("button[data-action=revoke]"))
    assert "Revoked" in page.locator("tr[data-kiosk=K07]").inner_text()
    assert server.get("/api/v1/kiosks/K07/changes", token).status_code == 401

    # a new member: a first PIN and a one-time code, shown once
    page.goto("/console/staff")
    page.fill("form[action='/console/staff'] input[name=staff_no]", "S0010")
    page.fill("form[action='/console/staff'] input[name=name]", "New Desk")
    click_and_load(page, "button[data-action=create]")
    pin = page.inner_text("[data-secret='console.staff.first_pin']").strip()
    code = page.inner_text("[data-secret='console.field.code']").strip()
    assert len(pin) == 6 and pin.isdigit() and len(code) == 11
    _no_keys(page)
    newcomer = new_page(browser, lang="zh_CN", base_url=server.url)
    newcomer.goto("/console/first-login")
    newcomer.fill("input[name=staff_no]", "S0010")
    newcomer.fill("input[name=code]", code)
    newcomer.fill("input[name=password]", "my-own-Secret-77")
    newcomer.fill("input[name=confirm]", "my-own-Secret-77")
    click_and_load(newcomer, "button[type=submit]")
    assert newcomer.url.endswith("/console/")
    assert requests.post(f"{server.url}/api/v1/staff/login", timeout=10, json={
        "staff_no": "S0010", "password": pin}).status_code == 401  # the PIN is no password
    # deactivated: the newcomer's session ends at once
    page.goto("/console/staff")
    click_and_load(page, "tr[data-staff=S0010] button[data-action=deactivate]")
    newcomer.goto("/console/readers")
    assert "/console/login" in newcomer.url

    # the audit log finds each action, by action, kiosk and staff
    page.goto("/console/audit?kiosk_id=K07")
    assert [a for a in page.eval_on_selector_all(
        "tr[data-audit]", "els => els.map(e => e.dataset.audit)")] == ["kiosk.revoke",
                                                                      "kiosk.enroll"]
    page.goto("/console/audit?action=staff.")
    found = page.eval_on_selector_all("tr[data-audit]", "els => els.map(e => e.dataset.audit)")
    assert found == ["staff.deactivate", "staff.password_set", "staff.create"]
    page.goto(f"/console/audit?staff_no={SUPERVISOR[0]}&day_from=2000-01-01&day_to=2999-12-31")
    assert page.locator("tr[data-audit='kiosk.enroll']").count() == 1
    assert code not in page.inner_text("main") and pin not in page.inner_text("main")
    _no_keys(page)
    click_and_load(page, "nav.lang a[lang=zh-CN]")
    _no_keys(page)

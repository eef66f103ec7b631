"""The finance page's reconciliation finds a planted mismatch in a bill file of each provider
(issue 13, acceptance), in Chromium against the real record server process.

Our books come from the real producers: kiosk K01 takes new-card payments through the real
WeChat Pay and Alipay adapters against each provider's emulator, and its sync client pushes them
through the real ingest. Each provider's bill of the day is written from its emulator's books in
the documented layout, with one planted mismatch of each kind: a trade whose amount differs, a
payment of ours the bill leaves out, and money the provider took that our books never got (a
charge with no payment of ours). A trade taken and refunded in full is no mismatch.

A supervisor uploads each bill on the finance page (WeChat Pay chosen by hand, Alipay detected
from the file); the run's page lists exactly the three mismatches with receipt, provider
transaction id, kiosk and yuan amounts, in both languages; the run is audited and can be opened
again later. A hostile upload (another provider's file, not a bill, a huge file, a formula, a
control character) is refused with its named reason and stores nothing; desk and auditor members
cannot import and a POST without the CSRF token is refused.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text

from kiosk.payments.factory import build_gateway
from kiosk.services import build_services
from kiosk.services.common import Tender
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.bills import alipay_bill, trades_of, wechat_bill
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    click_and_load,
    csrf_of,
    log_in,
    start_console_server,
    visible_keys,
)
from tests.support.pay_setup import code_for, pay_setup
from tests.support.server_process import ServerProcess
from tests.support.services import make_env, make_reader

BILL_AT = "2026-11-24 10:00:00"  # the kiosk's day (tests.support.services.START)
PROVIDERS = ("wechat", "alipay")


@dataclasses.dataclass
class Planted:
    bill: bytes
    amount_differs: str  # transaction ids
    not_at_provider: str
    not_at_provider_receipt: str
    not_in_books: str
    matched: str
    books_amount: int  # of the one whose amount differs


@pytest.fixture(name="books", scope="module")
def books_fixture(tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[ServerProcess, dict[str, Planted]]]:
    root = tmp_path_factory.mktemp("reconcile")
    made: list[ServerProcess] = []

    def factory(db_url: str | None = None, **kw: Any) -> ServerProcess:
        made.append(ServerProcess(root / f"s{len(made)}", db_url, **kw))
        return made[-1]

    server = start_console_server(factory)
    token = server.enroll("K01")
    env = make_env(root / "kiosk.sqlite3")
    sync = SyncEngine(env.store, RecordServerClient(server.url, "K01", token, retries=1,
                                                    backoff_s=0.01), clock=env.clock)
    planted: dict[str, Planted] = {}
    try:
        with pay_setup("wechat", root / "wx") as wx, pay_setup("alipay", root / "ali") as ali:
            for n, setup in enumerate((wx, ali)):
                kind = setup.kind
                gateway = build_gateway(setup.settings(), store=env.store, clock=env.clock,
                                        kiosk_no=1)
                services = build_services(env.store, env.clock, gateway, env.writer, env.config)
                paid = []
                for seq in (1, 2, 3):  # three readers' new cards, paid with a payment code
                    env.writer.place_blank()
                    paid.append(services.cards.new_card(make_reader(n * 3 + seq),
                                                        Tender.payment_code(code_for(kind))))
                back = gateway.charge(code=code_for(kind), amount=500, reference="fees:back")
                gateway.refund(back, reason="card write failed")  # nets to zero at the provider
                orphan = gateway.charge(code=code_for(kind), amount=700, reference="fees:orphan")
                recorded = [e["payload"] for e in env.store.pending_events(10_000)
                            if e["kind"] == "payment.recorded" and e["payload"]["method"] == kind]
                assert len(recorded) == 3 and all(p["transaction_id"] for p in recorded)
                sync.sync_once()
                assert env.store.pending_count() == 0
                trades = {t.transaction_id: t for t in trades_of(setup.emulator.books, BILL_AT)}
                first, second, third = (p["transaction_id"] for p in recorded)
                books_amount = trades[second].amount
                trades[second] = dataclasses.replace(trades[second], amount=books_amount + 1)
                del trades[third]
                write = wechat_bill if kind == "wechat" else alipay_bill
                planted[kind] = Planted(write(trades.values()), second, third,
                                        recorded[2]["receipt_no"], orphan.transaction_id, first,
                                        books_amount)
        yield server, planted
    finally:
        env.store.close()
        for s in made:
            s.terminate()


def _rows(server: ServerProcess, sql: str) -> list[Any]:
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _stored(server: ServerProcess) -> tuple[int, int]:
    return (_rows(server, "SELECT count(*) FROM reconciliation_runs")[0][0],
            _rows(server, "SELECT count(*) FROM audit_log WHERE action = 'finance.reconcile'")[0][0])


def _upload(page: Page, name: str, data: bytes, provider: str) -> None:
    page.goto("/console/finance/reconcile")
    page.select_option("select[name=provider]", provider)
    page.set_input_files("input[name=file]", files=[
        {"name": name, "mimeType": "text/csv", "buffer": data}])
    click_and_load(page, "button[data-action=reconcile]")


def _shown(page: Page) -> dict[str, dict[str, str]]:
    """Each mismatch row's cells by kind (receipt, txn, out-trade-no, kiosk, amounts), on a run's
    page reached through click_and_load: a click alone returns when the navigation is committed,
    and the rows read at that moment may not be parsed yet (seen in CI: none read)."""
    out = {}
    for row in page.locator("#mismatches tbody tr[data-kind]").all():
        cells = [c.inner_text().strip() for c in row.locator("td").all()]
        out[str(row.get_attribute("data-kind"))] = dict(zip(
            ("label", "receipt", "txn", "otn", "kiosk", "provider", "books", "difference"), cells,
            strict=True))
    return out


@pytest.mark.parametrize("kind, choose", [("wechat", "wechat"), ("alipay", "auto")])
def test_the_reconciliation_finds_the_planted_mismatches_of_each_providers_bill(
        browser: Browser, books: tuple[ServerProcess, dict[str, Planted]], kind: str,
        choose: str) -> None:
    server, planted = books
    p = planted[kind]
    runs_before, audits_before = _stored(server)
    page = log_in(browser, server, "supervisor", lang="zh_CN")
    page.goto("/console/finance")
    click_and_load(page, "#to-reconcile")
    assert page.url.endswith("/console/finance/reconcile")
    _upload(page, f"{kind}-2026-11-24.csv", p.bill, choose)
    assert "/console/finance/reconcile/" in page.url, page.content()[:2000]
    assert page.get_attribute("#run-facts", "data-provider") == kind  # detected for Alipay
    shown = _shown(page)
    assert set(shown) == {"amount_differs", "not_at_provider", "not_in_books"}
    assert {k: v["txn"] for k, v in shown.items()} == {
        "amount_differs": p.amount_differs, "not_at_provider": p.not_at_provider,
        "not_in_books": p.not_in_books}
    assert p.matched not in page.inner_text("#mismatches")
    assert shown["not_in_books"]["provider"] == "¥7.00"  # the charge of 700 fen nobody booked
    assert shown["not_in_books"]["books"] == "¥0.00"
    assert shown["not_in_books"]["kiosk"] == "K01"  # from its out-trade-number's kiosk number
    assert shown["not_at_provider"]["receipt"] == p.not_at_provider_receipt
    assert shown["not_at_provider"]["kiosk"] == "K01"
    books_yuan = f"¥{p.books_amount // 100}.{p.books_amount % 100:02d}"
    more = p.books_amount + 1
    assert shown["amount_differs"]["books"] == books_yuan
    assert shown["amount_differs"]["provider"] == f"¥{more // 100}.{more % 100:02d}"
    assert shown["amount_differs"]["difference"] == "¥0.01"
    assert shown["amount_differs"]["label"] == "金额不一致"
    assert visible_keys(page) == []
    run_url = page.url

    english = log_in(browser, server, "auditor", lang="en")  # seen again later, by an auditor
    english.goto("/console/finance/reconcile")
    assert english.locator("#reconcile-form").count() == 0  # auditors do not import
    click_and_load(english, f"#runs a[href='{run_url.split(server.url)[1]}']")
    assert english.url == run_url
    again = _shown(english)
    assert {k: v["txn"] for k, v in again.items()} == {k: v["txn"] for k, v in shown.items()}
    assert again["amount_differs"]["label"] == "Amount differs"
    assert again["not_in_books"]["label"] == "Paid at the provider, not in our books"
    assert visible_keys(english) == []

    assert _stored(server) == (runs_before + 1, audits_before + 1)
    [audit] = _rows(server, "SELECT staff_no, target, after FROM audit_log"
                            " WHERE action = 'finance.reconcile' ORDER BY id DESC LIMIT 1")
    after = json.loads(audit.after)
    assert audit.staff_no == "S0001" and run_url.endswith(audit.target)
    # five rows: the matched, the differing and the orphan trades, the refunded one twice
    assert (after["file_name"], after["provider"], after["bill_rows"], after["mismatch_count"],
            after["matched"]) == (f"{kind}-2026-11-24.csv", kind, 5, 3, 1)
    page.context.close()
    english.context.close()


def _hostile(planted: dict[str, Planted]) -> list[tuple[str, bytes, str, str]]:
    wx, ali = planted["wechat"].bill, planted["alipay"].bill
    txn = planted["wechat"].matched.encode()
    return [
        ("alipay-as-wechat.csv", ali, "wechat", "other_provider"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "auto", "encoding"),
        ("notes.csv", "日期,金额\n2026-11-24,30.00\n".encode(), "auto", "unknown_layout"),
        ("huge.csv", wx + b"," * (9 * 1024 * 1024), "wechat", "too_big"),
        ("formula.csv", wx.replace(txn, b"=HYPERLINK(\"http://x\")", 1), "wechat", "formula"),
        ("formula-ali.csv", ali.replace(b"\t,", b"\t,@SUM(A1)", 1), "auto", "formula"),
        ("escape.csv", wx.replace(txn, txn + b"\x1b[2J", 1), "wechat", "control_chars"),
        ("bidi.csv", wx.replace(txn, txn + "\u202e".encode(), 1), "wechat", "control_chars"),
        ("amount.csv", wx.replace(b"`7.00", b"`7.0x", 1), "wechat", "bad_amount"),
        ("empty.csv", b"\r\n", "auto", "empty"),
    ]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_a_hostile_bill_is_refused_by_name_and_nothing_is_stored(
        browser: Browser, books: tuple[ServerProcess, dict[str, Planted]], lang: str) -> None:
    server, planted = books
    before = _stored(server)
    page = log_in(browser, server, "supervisor", lang=lang)
    cases = _hostile(planted)  # every case in Chinese; in English three (the breadth is in
    if lang == "en":           # tests/server/test_bill_import.py)
        cases = [c for c in cases if c[0] in ("alipay-as-wechat.csv", "formula.csv",
                                              "escape.csv")]
    for name, data, provider, reason in cases:
        _upload(page, name, data, provider)
        assert page.url.endswith("/console/finance/reconcile"), (name, page.url)
        assert page.locator("[data-reason]").count() == 1, (name, page.content()[:1500])
        assert page.get_attribute("[data-reason]", "data-reason") == reason, name
        assert visible_keys(page) == [], name
        assert _stored(server) == before, name
    page.context.close()


def _announced_huge(server: ServerProcess, page: Page) -> int:
    """A POST announcing a 1 GB bill (the signed-in session, its CSRF token in the header) whose
    body is never sent: the status the server answers with before reading it."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    host, port = server.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", "/console/finance/reconcile")
        for name, value in (("Cookie", cookies), ("X-CSRF-Token", csrf_of(page)),
                            ("Content-Type", "multipart/form-data; boundary=x"),
                            ("Content-Length", str(1 << 30))):
            conn.putheader(name, value)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_only_a_supervisor_imports_and_only_with_the_csrf_token(
        browser: Browser, books: tuple[ServerProcess, dict[str, Planted]]) -> None:
    server, planted = books
    before = _stored(server)
    bill = {"name": "wechat.csv", "mimeType": "text/csv", "buffer": planted["wechat"].bill}
    for role in ("desk", "auditor", "supervisor"):
        page = log_in(browser, server, role, lang="en")
        url = f"{server.url}/console/finance/reconcile"
        if role != "supervisor":
            resp = page.context.request.post(url, max_redirects=0, multipart={
                "csrf_token": csrf_of(page), "provider": "wechat", "file": bill})
            assert resp.status == 403, role
        resp = page.context.request.post(url, max_redirects=0, multipart={
            "provider": "wechat", "file": bill})
        assert resp.status == 403, role  # no CSRF token
        if role == "supervisor":  # over 4x the bill limit: the server's 413 before reading it
            assert _announced_huge(server, page) == 413
        page.context.close()
    assert _stored(server) == before

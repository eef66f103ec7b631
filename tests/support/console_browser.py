"""The back-office console in a real browser: Playwright driving Debian's Chromium
(``/usr/bin/chromium``; ``playwright install`` is never run) against a real server process.

``console_server`` is a started server with S0001 supervisor, S0002 desk and S0003 auditor, each
with the web password ``STAFF_PASSWORD``; ``browser`` is the test process's one headless Chromium (a module's pages are closed after it);
``log_in`` signs a fresh page in through the log-in form. An action that navigates goes through
``click_and_load`` (or ``wait_for_page_with`` for a page that replaces itself) before anything on
the new page is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from tests.support.server_process import STAFF_PASSWORD, ServerProcess

CHROMIUM = "/usr/bin/chromium"
ROLES = {"supervisor": "S0001", "desk": "S0002", "auditor": "S0003"}
# a message id that reached the page untranslated (library_core.i18n gives the id back)
MESSAGE_KEY = re.compile(r"\bconsole\.[a-z_]+\.[a-z_.]+")
OFFICE = {"width": 1366, "height": 768}
TABLET = {"width": 800, "height": 1280}


# one headless Chromium per test process, started by the first module that asks for it and
# stopped when pytest ends (request.config.add_cleanup): each module used to start its own
_chromium: dict[str, Any] = {}


def _shared_chromium(config: pytest.Config) -> Browser:
    if "browser" not in _chromium or not _chromium["browser"].is_connected():
        playwright = sync_playwright().start()
        started = _chromium["browser"] = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])

        def stop() -> None:
            if _chromium.get("browser") is started:
                del _chromium["browser"]
            started.close()
            playwright.stop()

        config.add_cleanup(stop)
    browser: Browser = _chromium["browser"]
    return browser


@pytest.fixture(name="browser", scope="module")
def browser_fixture(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """The process's Chromium; the pages (browser contexts) a module opened are closed after it,
    so no cookie or page outlives its module."""
    browser = _shared_chromium(request.config)
    yield browser
    for context in browser.contexts:
        context.close()


def start_console_server(factory: Callable[..., ServerProcess], db_url: str | None = None,
                         **kwargs: Any) -> ServerProcess:
    server = factory(db_url, **kwargs)
    server.cli("migrate")
    server.create_staff("S0001", role="supervisor", name="李强")
    server.create_staff("S0002", role="desk", name="王芳")
    server.create_staff("S0003", role="auditor", name="赵审计")
    return server.start()


def new_page(browser: Browser, *, lang: str = "zh_CN", viewport: dict[str, int] | None = None,
             base_url: str = "") -> Page:
    context = browser.new_context(viewport=viewport or OFFICE, base_url=base_url or None)  # type: ignore[arg-type]
    if base_url:
        context.add_cookies([{"name": "console_lang", "value": lang, "url": base_url}])
    return context.new_page()


def click_and_load(page: Page, target: str | Locator) -> None:
    """Click ``target`` (a selector on ``page`` or a locator), a link or a form's button that
    navigates, and return once the new document has loaded (its load event).

    A click alone returns when the navigation is committed (Playwright means to stop waiting even
    for that): a read then sees the new document half parsed, or the old page before the commit.
    ``page.wait_for_load_state()`` after it cannot tell the two documents apart either.
    Raises playwright's ``TimeoutError`` if the click starts no navigation.
    """
    with page.expect_navigation():
        if isinstance(target, str):
            page.click(target)
        else:
            target.click()


def wait_for_page_with(page: Page, selector: str, *, timeout: float) -> None:
    """Wait until the page's document holds ``selector`` and has loaded: for a page that reloads
    itself until it is final (the import job page), where no single navigation can be awaited.
    ``selector`` must match only the final document, none before it."""
    page.wait_for_selector(selector, timeout=timeout)
    page.wait_for_load_state()


def log_in(browser: Browser, server: ServerProcess, role: str = "supervisor", *,
           lang: str = "zh_CN", password: str = STAFF_PASSWORD,
           viewport: dict[str, int] | None = None, staff_no: str | None = None) -> Page:
    """A page signed in as ``role``'s member (or ``staff_no``); fails the test if refused."""
    page = new_page(browser, lang=lang, viewport=viewport, base_url=server.url)
    page.goto("/console/login")
    page.fill("input[name=staff_no]", staff_no or ROLES[role])
    page.fill("input[name=password]", password)
    click_and_load(page, "button[type=submit]")
    assert page.url.rstrip("/").endswith("/console"), page.content()[:2000]
    return page


def visible_keys(page: Page) -> list[str]:
    """Message ids shown as text (or in a title/label/placeholder) instead of a translation."""
    text = page.inner_text("body") + " " + page.title()
    attrs = page.eval_on_selector_all(
        "[placeholder],[aria-label],[title]",
        "els => els.map(e => [e.placeholder, e.getAttribute('aria-label'), e.title].join(' '))")
    return MESSAGE_KEY.findall(text + " " + " ".join(attrs))


def post_without_csrf(page: Page, path: str, form: dict[str, str]) -> int:
    """POST ``form`` with the page's own session cookie but no CSRF token; the status."""
    resp = page.context.request.post(page.url.split("/console")[0] + path, form=form,
                                     max_redirects=0)
    return resp.status


def csrf_of(page: Page) -> str:
    """The session's CSRF token, as every form on the page carries it."""
    return page.input_value("form[action='/console/logout'] input[name=csrf_token]")


def post_as(page: Page, path: str, form: dict[str, str]) -> int:
    """POST ``form`` with the page's session and its real CSRF token; the status."""
    resp = page.context.request.post(page.url.split("/console")[0] + path, max_redirects=0,
                                     form={"csrf_token": csrf_of(page), **form})
    return resp.status

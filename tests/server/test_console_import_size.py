"""Import uploads over the app's 1 MB request bodies, against the real server process: a 2 MB
items CSV uploaded in Chromium reaches its dry run (the app-wide limit once answered it with a
bare 413), and a file just over the page's own limit (``MAX_UPLOAD``), streamed with the
session's cookie and CSRF token, gets the page back with its "too big" message, nothing kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import requests
from playwright.sync_api import Browser

from library_core.codes import make_item_barcode
from record_server.console.imports import MAX_UPLOAD
from tests.server.test_console_imports import (  # noqa: F401
    JOB_DONE_MS,
    _count,
    office_fixture,
)
from tests.server.test_forged_claims import Pusher
from tests.support.console_browser import (  # noqa: F401
    browser_fixture,
    csrf_of,
    log_in,
    wait_for_page_with,
)
from tests.support.import_files import ITEM_HEADER, csv_bytes
from tests.support.server_process import server_factory_fixture  # noqa: F401
from tests.support.services import SUPERVISOR

BOUNDARY = "----import-size-test"


def test_an_items_csv_over_one_megabyte_reaches_its_dry_run(browser: Browser,
                                                             office: Pusher) -> None:
    rows = [[make_item_barcode(20000 + n), f"图书第{n}册：大型导入测试用长标题", "作者甲", f"I247/{n}"]
            for n in range(25000)]
    data = csv_bytes(ITEM_HEADER, rows)
    assert len(data) > 2 << 20  # over the app-wide max_body_bytes (1 MB) twice
    page = log_in(browser, office.server, "supervisor", staff_no=SUPERVISOR[0], lang="en")
    page.goto("/console/imports")
    page.select_option("select[name=kind]", "items")
    page.set_input_files("input[name=file]", files=[
        {"name": "大批图书.csv", "mimeType": "text/csv", "buffer": data}])
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/console/imports")) as posted:
        page.click("button[data-action=dry-run]")
    assert posted.value.status == 303, posted.value.status  # not the app-wide bare 413
    wait_for_page_with(page, "#job[data-status=checked]", timeout=JOB_DONE_MS)
    job = page.inner_text("#job")
    assert re.search(r"\b25,?000\b", job), job  # every row read


def _multipart(csrf: str, size: int) -> Iterator[bytes]:
    """A form with the CSRF token, kind=items and a CSV file of ``size`` bytes, streamed."""
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
           f"{csrf}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n"
           f"items\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"huge.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    head = csv_bytes(ITEM_HEADER, [])
    yield head
    line = f"{make_item_barcode(1)},书,,\r\n".encode()
    chunk = line * ((1 << 20) // len(line))
    left = size - len(head)
    while left > 0:
        part = chunk[:left]
        left -= len(part)
        yield part
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_a_file_over_the_pages_limit_gets_the_pages_message_not_a_bare_413(
        browser: Browser, office: Pusher) -> None:
    server = office.server
    page = log_in(browser, server, "supervisor", staff_no=SUPERVISOR[0], lang="en")
    page.goto("/console/imports")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    resp = requests.post(server.url + "/console/imports", cookies=cookies,
                         data=_multipart(csrf_of(page), MAX_UPLOAD + (1 << 20)),
                         headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                         allow_redirects=False, timeout=300)
    assert resp.status_code == 422, resp.text[:300]
    assert 'data-reason="too_big"' in resp.text
    assert f"The file is too big (at most {MAX_UPLOAD // (1 << 20)} MB)." in resp.text
    assert _count(server, "import_jobs") == 0
    imports = server.data_dir / "imports"
    assert not imports.exists() or not list(imports.iterdir())  # the upload is not kept

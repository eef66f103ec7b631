"""The console's session cookie is Secure (and HttpOnly, SameSite=Strict) when the record
server serves HTTPS (issue 12 point 1), through the real server process with a test CA."""

from __future__ import annotations

import re
from collections.abc import Callable

import requests

from tests.support.server_process import (  # noqa: F401
    STAFF_PASSWORD,
    ServerProcess,
    server_factory_fixture,
)
from tests.support.tls import TlsFiles, tls_files_fixture  # noqa: F401


def _login_form(session: requests.Session, url: str, **kw: object) -> str:
    page = session.get(f"{url}/console/login", timeout=10, **kw)  # type: ignore[arg-type]
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def test_the_session_cookie_is_secure_under_tls(
        server_factory: Callable[..., ServerProcess], tls_files: TlsFiles) -> None:  # noqa: F811
    server = server_factory(tls_cert=tls_files.cert, tls_key=tls_files.key,
                            ca_file=tls_files.ca_file)
    server.cli("migrate")
    server.create_staff("S0001", role="desk")
    server.start()
    with requests.Session() as http:
        ca = str(tls_files.ca_file)  # per request: REQUESTS_CA_BUNDLE would beat Session.verify
        token = _login_form(http, server.url, verify=ca)
        resp = http.post(f"{server.url}/console/login", timeout=10, allow_redirects=False,
                         verify=ca,
                         data={"staff_no": "S0001", "password": STAFF_PASSWORD,
                               "csrf_token": token})
    assert resp.status_code == 303
    cookie = next(v for v in resp.raw.headers.getlist("Set-Cookie")
                  if v.startswith("console_session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=strict"} <= flags

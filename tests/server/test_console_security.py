"""The console's trust rules on their own (issue 12 point 1; docs/security.md 4.2, 5.1):
web passwords and one-time codes against a real SQLite database, hostile log-in input (another site's ``next``, bad
languages), and every console message id in both catalogs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from library_core.clock import CHINA_TZ, FixedClock
from library_core.errors import ValidationError
from library_core.i18n import has_message
from library_core.pins import hash_pin
from record_server import auth, passwords
from record_server.console.sessions import session_user
from record_server.db import Database
from tests.support.server_process import (  # noqa: F401
    STAFF_PASSWORD,
    ServerProcess,
    server_factory_fixture,
)

CONSOLE = Path(__file__).resolve().parents[2] / "record_server" / "console"
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=CHINA_TZ)


@pytest.fixture(name="db")
def db_fixture(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    db.migrate()
    auth.create_staff(db, staff_no="S0001", name="王芳", role="desk", pin="246810",
                      pin_cost=1 << 10)
    return db


def _code(db: Database, clock: FixedClock) -> str:
    with db.write() as conn:
        code = passwords.issue_code(conn, "S0001", clock.now())
    assert code is not None
    return code


def test_password_rules_name_the_reason() -> None:
    pin_like = hash_pin("abcdefgh123", n=1 << 10)  # a (hypothetical) PIN as long as a password
    cases = {"short-1": "console.password.too_short", "1234567890123": "console.password.digits_only",
             "my-S0001-password": "console.password.has_staff_no", "x" * 129: "console.password.too_long",
             "abcdefgh123": "console.password.is_pin"}
    for password, reason in cases.items():
        with pytest.raises(ValidationError) as err:
            passwords.validate_password(password, staff_no="S0001", pin_hash=pin_like)
        assert err.value.message_id == reason, password
    assert passwords.validate_password("fine-Password-1", staff_no="S0001", pin_hash=pin_like)


def test_a_code_sets_the_password_once_and_never_the_pin(db: Database) -> None:
    clock = FixedClock(START)
    code = _code(db, clock)
    with pytest.raises(auth.LoginRefused):
        passwords.check_password(db, "S0001", "246810", clock)  # the PIN: no password yet
    with pytest.raises(ValidationError):
        passwords.redeem_code(db, "S0001", code, "246810", clock)
    who = passwords.redeem_code(db, "S0001", code, "first-Password-9", clock)
    assert (who.staff_no, who.role) == ("S0001", "desk")
    with pytest.raises(auth.LoginRefused) as again:
        passwords.redeem_code(db, "S0001", code, "second-Password-9", clock)
    assert again.value.reason == "no_code"
    assert passwords.check_password(db, "S0001", "first-Password-9", clock).staff_no == "S0001"
    with pytest.raises(auth.LoginRefused):
        passwords.check_password(db, "S0001", "246810", clock)  # the PIN stays wrong


def test_wrong_codes_lock_and_an_expired_code_is_refused(db: Database) -> None:
    clock = FixedClock(START)
    code = _code(db, clock)
    reasons = []
    for _ in range(6):
        with pytest.raises(auth.LoginRefused) as err:
            passwords.redeem_code(db, "S0001", "AAAAA-AAAAA", "first-Password-9", clock)
        reasons.append(err.value.reason)
    assert reasons == ["wrong"] * 5 + ["locked"]
    with pytest.raises(auth.LoginRefused) as locked:  # the right code while locked
        passwords.redeem_code(db, "S0001", code, "first-Password-9", clock)
    assert locked.value.reason == "locked"
    clock.advance(hours=25)  # the lock is over, and so is the code's day
    with pytest.raises(auth.LoginRefused) as expired:
        passwords.redeem_code(db, "S0001", code, "first-Password-9", clock)
    assert expired.value.reason == "expired"


def test_a_new_code_ends_the_password_and_the_sessions(db: Database) -> None:
    clock = FixedClock(START)
    passwords.redeem_code(db, "S0001", _code(db, clock), "first-Password-9", clock)
    from record_server.console.sessions import open_session

    with db.write() as conn:
        token = open_session(conn, "S0001", clock.now(), hours=8)
    assert session_user(db, token, clock.now(), idle_seconds=60) is not None
    _code(db, clock)
    assert session_user(db, token, clock.now(), idle_seconds=60) is None
    with pytest.raises(auth.LoginRefused) as err:
        passwords.check_password(db, "S0001", "first-Password-9", clock)
    assert err.value.reason == "no_password"


def _login_form(session: requests.Session, url: str, **kw: object) -> str:
    page = session.get(f"{url}/console/login", timeout=10, **kw)  # type: ignore[arg-type]
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def test_hostile_log_in_input_is_refused(server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server = server_factory()
    server.cli("migrate")
    server.create_staff("S0001", role="desk")
    server.start()
    with requests.Session() as http:
        for target in ("//evil.example/", "https://evil.example/", "/console/\\evil", "/api/v1/x"):
            token = _login_form(http, server.url)
            resp = http.post(f"{server.url}/console/login", timeout=10, allow_redirects=False,
                             data={"staff_no": "S0001", "password": STAFF_PASSWORD,
                                   "csrf_token": token, "next": target})
            assert resp.status_code == 303 and resp.headers["location"] == "/console/", target
        token = _login_form(http, server.url)
        long_no = http.post(f"{server.url}/console/login", timeout=10,
                            data={"staff_no": "S" * 500, "password": "x", "csrf_token": token})
        assert long_no.status_code == 422
        assert http.get(f"{server.url}/console/lang/fr", timeout=10).status_code == 404
        bounced = http.get(f"{server.url}/console/lang/en?next=//evil.example/", timeout=10,
                           allow_redirects=False)
        assert bounced.headers["location"] == "/console/"


FOUNDATION = ("__init__", "web", "login", "home", "placeholders", "readers", "readers_data",
              "kiosks", "staff", "staff_data", "audit_page", "audit", "sessions")


def test_every_console_message_is_in_both_catalogs() -> None:
    """Every message id this package names (the dashboard/report pages check their own);
    dynamic ones (``'console.role.' ~ role``) through each value they take."""
    paths = [CONSOLE / f"{name}.py" for name in FOUNDATION]
    paths += [p for p in CONSOLE.glob("templates/**/*.html") if "c2" not in p.parts]
    ids: set[str] = set()
    for path in paths:
        ids |= set(re.findall(r"""["'](console\.[a-z_]+\.[a-z_.]+)["']""", path.read_text()))
    ids = {i for i in ids if not i.endswith((".", "_"))}
    ids |= {f"console.role.{r}" for r in passwords.CONSOLE_ROLES}
    ids |= {f"console.readers.results_{m}" for m in ("card", "id_number", "name")}
    ids |= {f"console.kiosks.state_{s}" for s in ("enrolled", "pending", "revoked")}
    ids |= {f"console.home.role_{r}" for r in passwords.CONSOLE_ROLES}
    ids |= {f"console.fee.{k}" for k in ("deposit", "card", "replacement", "renewal",
                                         "overdue", "lost_item")}
    ids |= {f"console.method.{k}" for k in ("wechat", "alipay", "cash", "credit")}
    ids |= {f"console.readers.{r}" for r in ("refund_nothing", "card_not_cancelled",
                                             "refund_exceeds_deposit")}
    assert len(ids) > 100
    missing = sorted(f"{lang}: {i}" for i in ids for lang in ("zh_CN", "en")
                     if not has_message(i, lang))
    assert missing == []

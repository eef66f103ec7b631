"""The record server as a real process on 127.0.0.1 (``python -m record_server serve``).

``ServerProcess`` starts it on a free port with a temp data dir, waits for ``/healthz``, and can
be killed (-9), terminated and restarted on the same database. Given ``tls_cert``/``tls_key``
(tests/support/tls.py makes them) it serves HTTPS and its helpers verify against ``ca_file``.
``server_factory`` makes them and stops every one at teardown; ``db_url`` is parametrised over
SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import server_setup as setup
from tests.support.postgres import PostgresCluster, free_port, postgres_cluster_fixture  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable)  # the running interpreter (.venv, or .venv-server in make test)
STAFF_PIN = "246810"  # the kiosk PIN of the staff create_staff makes
STAFF_PASSWORD = "web-Password-2468"  # their web password (console, /api/v1/staff/login)
LIBRARY_KEY = "unit-test-library-key-0123456789"  # tests.support.services.TEST_KEY, the kiosks'


class ServerProcess:
    def __init__(self, data_dir: Path, database_url: str | None = None, *,
                 login_rate: int = 1000, env: dict[str, str] | None = None,
                 entry: str = "record_server", tls_cert: Path | None = None,
                 tls_key: Path | None = None, ca_file: Path | None = None,
                 serve_args: tuple[str, ...] = ()) -> None:
        """``env`` is added to the server process's environment; ``entry`` is the module run
        with ``-m`` (``tests.support.paused_server`` for the kill drills); ``tls_cert`` and
        ``tls_key`` make it serve HTTPS, ``ca_file`` is what this object's requests trust;
        ``serve_args`` go on the ``serve`` command line."""
        self.data_dir = data_dir
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.verify: bool | str = str(ca_file) if ca_file else True
        self.serve_args = serve_args
        self.env = {"RECORD_SERVER_LIBRARY_KEY": LIBRARY_KEY, **(env or {})}
        self.entry = entry
        data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{data_dir / 'records.sqlite3'}"
        self.port = free_port()
        self.login_rate = login_rate
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"
        # the set-up commands run so far on a fresh database (None once anything else ran): the
        # key of the template that ``cli`` may copy instead of running them again
        self._setup: tuple[Any, ...] | None = ()
        self._stamp: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _python(self) -> str:
        """The interpreter running the tests: .venv's, or .venv-server's in make test's server
        stage, so the server runs with exactly the packages the tests were given."""
        return str(PYTHON)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a ``record-server`` command against this server's database; returns stdout.

        ``migrate`` and ``create-staff`` on a fresh database run for real once per session
        for each sequence of them; later servers get a copy of the database they made
        (tests/support/server_setup.py)."""
        if (self._setup == () and not setup.is_fresh(self.database_url)) or (
                self._setup and setup.stamp(self.database_url) != self._stamp):
            self._setup = None
        if self._setup is not None and args and args[0] in setup.SETUP_COMMANDS:
            self._setup = key = setup.setup_key(self._setup, args, env, self.database_url)
            out = setup.copy_in(key, self.database_url)
            if out is None:
                out = self._cli(*args, env=env)
                setup.keep(key, self.database_url, out)
            self._stamp = setup.stamp(self.database_url)
            return out
        self._setup = None
        return self._cli(*args, env=env)

    def _cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        full_env = {**os.environ, **(env or {})}
        res = subprocess.run(
            [self._python(), "-m", "record_server", *args, "--data-dir", str(self.data_dir),
             "--database-url", self.database_url],
            cwd=REPO, env=full_env, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"record-server {args[0]} failed: {res.stderr[-2000:]}")
        return res.stdout.strip()

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self._setup = None
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [self._python(), "-m", self.entry, "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--data-dir", str(self.data_dir),
             "--database-url", self.database_url, "--login-rate", str(self.login_rate),
             *self._tls_args(), *self.serve_args],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
            start_new_session=True)  # its own process group: kill() reaches --workers' children
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1,
                                verify=self.verify).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server not ready in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def _tls_args(self) -> list[str]:
        if self.tls_cert is None or self.tls_key is None:
            return []
        return ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]

    def kill(self) -> None:
        """SIGKILL to the server and its worker processes: no shutdown, no flush (a power cut
        for the server)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._kill_group()
        self.proc = None

    def _kill_group(self) -> None:
        """SIGKILL whatever is left of the server's process group (``--workers`` children)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._kill_group()
        self.proc = None

    def restart(self) -> ServerProcess:
        self.terminate()
        return self.start()

    # ---- set-up helpers -------------------------------------------------------------------
    def enroll(self, kiosk_id: str, branch: str = "main") -> str:
        """Enroll ``kiosk_id`` and return its token. The one-time code is made in this process
        by what ``record-server enroll-kiosk`` runs (``auth.enroll_kiosk`` with the configured
        lifetime), not by a new Python process each time; that command's own tests call it."""
        code = setup.enroll_code(self.data_dir, self.database_url, kiosk_id, branch)
        resp = requests.post(f"{self.url}/api/v1/kiosks/enroll",
                             json={"kiosk_id": kiosk_id, "code": code}, timeout=10,
                             verify=self.verify)
        resp.raise_for_status()
        return str(resp.json()["token"])

    def create_staff(self, staff_no: str, *, role: str = "supervisor", pin: str = STAFF_PIN,
                     name: str = "Staff", password: str | None = STAFF_PASSWORD) -> None:
        """Add a staff member with ``pin`` (kiosks) and ``password`` (the web password; None:
        none yet, only a one-time code can set it)."""
        args = ["create-staff", "--staff-no", staff_no, "--name", name, "--role", role]
        env = {"STAFF_PIN": pin}
        if password is not None:
            args += ["--password-env", "STAFF_PASSWORD"]
            env["STAFF_PASSWORD"] = password
        self.cli(*args, env=env)

    def staff_token(self, staff_no: str, password: str = STAFF_PASSWORD) -> str:
        """A JSON API staff token from ``/api/v1/staff/login`` (the web password)."""
        resp = requests.post(f"{self.url}/api/v1/staff/login",
                             json={"staff_no": staff_no, "password": password}, timeout=10,
                             verify=self.verify)
        resp.raise_for_status()
        return str(resp.json()["token"])

    def staff_session(self, token: str, kiosk_id: str, staff_no: str,
                      pin: str = STAFF_PIN) -> dict[str, Any]:
        """A kiosk staff session (``POST /api/v1/kiosks/{id}/staff-sessions``): what
        ``sign_staff_event`` signs a hand-made staff event with."""
        resp = self.post(f"/api/v1/kiosks/{kiosk_id}/staff-sessions", token,
                         json={"staff": staff_no, "pin": pin})
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body

    def reader_grant(self, token: str, kiosk_id: str, reader_id: str, serial: int) -> str:
        """The grant the server gives kiosk ``kiosk_id`` for a ``KioskEvents.new_reader`` reader
        who gave their ID number and PIN (record_server/grants.py)."""
        resp = self.post(f"/api/v1/kiosks/{kiosk_id}/reader-pin", token, json={
            "reader_id": reader_id, "id_number": resident_id(serial), "pin": READER_PIN})
        resp.raise_for_status()
        assert resp.json()["result"] == "ok", resp.text
        return str(resp.json()["grant"])

    def get(self, path: str, token: str, **kwargs: Any) -> requests.Response:
        return requests.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"},
                            timeout=30, verify=self.verify, **kwargs)

    def post(self, path: str, token: str | None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(f"{self.url}{path}", headers=headers, timeout=30,
                             verify=self.verify, **kwargs)


@pytest.fixture(name="db_url", params=["sqlite", "postgres"])
def db_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file, or a new database in the throwaway PG cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database()


@pytest.fixture(name="server_factory")
def server_factory_fixture(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    made: list[ServerProcess] = []

    def make(database_url: str | None = None, **kwargs: Any) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server{len(made)}", database_url, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.kill()


@pytest.fixture(name="server")
def server_fixture(server_factory: Callable[..., ServerProcess], db_url: str) -> ServerProcess:
    """A started server on SQLite or PostgreSQL with staff S0001 (supervisor) and S0002 (desk)."""
    srv = server_factory(db_url)
    srv.cli("migrate")
    srv.create_staff("S0001", role="supervisor")
    srv.create_staff("S0002", role="desk", name="Desk")
    return srv.start()


# ---- kiosk event envelopes for tests (the contract in library_core/events.py) -----------------

def resident_id(serial: int) -> str:
    """A valid 18-character resident ID number (GB 11643 check character) per serial."""
    import datetime as dt

    from library_core.identity import id_check_char

    born = dt.date(1950, 1, 1) + dt.timedelta(days=serial // 1000)
    first17 = f"110105{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + id_check_char(first17)


def sign_staff_event(event: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """``event`` as a kiosk emits it under ``session`` (``ServerProcess.staff_session``): dated
    at the session's start, with its online staff proof (docs/security.md 5.2)."""
    from library_core import contract

    event["occurred_at"] = session["started_at"]
    event["staff_proof"] = {"kind": "online", "session_id": session["session_id"],
                            "mac": contract.event_mac(bytes.fromhex(session["session_key"]),
                                                      contract.canonical_event_bytes(event))}
    return event


class KioskEvents:
    """Builds outbox envelopes for one kiosk with rising seq, as the kiosk's store would."""

    def __init__(self, kiosk_id: str, day: str = "2026-11-24") -> None:
        self.kiosk_id = kiosk_id
        self.seq = 0
        self.day = day
        self.receipts = 0
        # the number the server gives a kiosk named K<n> (record_server.auth), so its range
        self.kiosk_no = int(kiosk_id.lstrip("K"))

    NEW_CARD_FEN = 11000  # an adult's deposit (10000) and card fee (1000), record_server/fees.toml

    def fee_of(self, card_no: str, kind: str = "card") -> str:
        """The id of the ``kind`` fee that pays for ``card_no`` (``rules.card_fee_id``)."""
        from library_core.rules import card_fee_id

        return card_fee_id(self.kiosk_id, card_no, kind)

    def card(self, n: int) -> str:
        """Card number ``n`` of this kiosk's range (serials kiosk_no * 10^8 + n)."""
        from library_core.codes import make_card_no

        return make_card_no(self.kiosk_no * 10**8 + n)

    def env(self, kind: str, payload: dict[str, Any], *, at: str | None = None) -> dict[str, Any]:
        import uuid

        from library_core.events import priority_of

        self.seq += 1
        return {"event_id": str(uuid.uuid4()), "kiosk_id": self.kiosk_id, "seq": self.seq,
                "kind": kind, "occurred_at": at or f"{self.day}T10:00:00+08:00",
                "priority": priority_of(kind), "payload": payload}

    def receipt_no(self) -> str:
        self.receipts += 1
        return f"{self.kiosk_id}-{self.day.replace('-', '')}-{self.receipts:04d}"

    def new_reader(self, reader_id: str, serial: int, card_no: str) -> list[dict[str, Any]]:
        """What a kiosk's new card pushes: reader.registered, the adult deposit and card fee
        (``rules.card_fee_id``), their payment (wechat), then card.issued (the server makes the
        card only once its fees are paid): five events, the payment ``NEW_CARD_FEN``."""
        deposit, card_fee = self.fee_of(card_no, "deposit"), self.fee_of(card_no)
        return [
            self.env("reader.registered", {
                "reader_id": reader_id, "name": f"读者{serial}", "id_number": resident_id(serial),
                "phone": f"138{serial:08d}", "category": "adult",
                "pin_hash": reader_pin_hash(),
                "registered_at": f"{self.day}T10:00:00+08:00"}),
            self.env("fee.assessed", {"fee_id": deposit, "reader_id": reader_id,
                                      "kind": "deposit", "amount": 10000, "description": ""}),
            self.env("fee.assessed", {"fee_id": card_fee, "reader_id": reader_id, "kind": "card",
                                      "amount": 1000, "description": "card fee"}),
            self.env("payment.recorded", {
                "payment_id": f"pay-{reader_id}-card", "reader_id": reader_id,
                "receipt_no": self.receipt_no(), "method": "wechat", "amount": self.NEW_CARD_FEN,
                "allocations": [{"fee_id": deposit, "amount": 10000},
                                {"fee_id": card_fee, "amount": 1000}]}),
            self.env("card.issued", {"card_no": card_no, "reader_id": reader_id,
                                     "uid": f"{serial:08X}", "generation": 1,
                                     "expires_on": "2029-11-24"}),
        ]

    def renew(self, card_no: str, reader_id: str, months: int = 12) -> dict[str, Any]:
        return self.env("card.renewed", {"card_no": card_no, "reader_id": reader_id,
                                         "previous_expires_on": "2029-11-24",
                                         "expires_on": "2030-11-24", "months": months})

    def renew_paid(self, card_no: str, reader_id: str, months: int = 12, *,
                   previous: str = "2029-11-24") -> list[dict[str, Any]]:
        """What a kiosk's renewal pushes: the renewal fee, its payment (wechat), then the renewal
        (the server applies a renewal only once its fee is paid: ``rules.renewal_fee_id``)."""
        import datetime as dt

        from library_core.fees import add_months
        from library_core.rules import renewal_fee_id

        expires = add_months(dt.date.fromisoformat(previous), months)
        fee_id = renewal_fee_id(self.kiosk_id, card_no, expires)
        amount = 1000 * max(1, -(-months // 12))
        return [
            self.env("fee.assessed", {"fee_id": fee_id, "reader_id": reader_id, "kind": "renewal",
                                      "amount": amount, "description": f"{months} months"}),
            self.pay(reader_id, fee_id, amount, f"pay-{fee_id}", method="wechat"),
            self.env("card.renewed", {"card_no": card_no, "reader_id": reader_id,
                                      "previous_expires_on": previous,
                                      "expires_on": expires.isoformat(), "months": months}),
        ]

    def pay(self, reader_id: str, fee_id: str, amount: int, payment_id: str,
            method: str = "alipay") -> dict[str, Any]:
        return self.env("payment.recorded", {
            "payment_id": payment_id, "reader_id": reader_id, "receipt_no": self.receipt_no(),
            "method": method, "amount": amount,
            "allocations": [{"fee_id": fee_id, "amount": amount}]})

    def visit(self, visit_id: str) -> dict[str, Any]:
        return self.env("visit.opened", {
            "visit_id": visit_id, "name": "访客", "phone": "13900000000", "purpose": "meeting",
            "host_department": "office", "expires_at": f"{self.day}T21:00:00+08:00"})


READER_PIN = "135790"  # every KioskEvents reader's


@functools.lru_cache(maxsize=1)
def reader_pin_hash() -> str:
    from library_core.pins import hash_pin

    return hash_pin(READER_PIN, n=1 << 10)

"""Staff log-in hardening through the real server process (issue 11 points 5 and 7), on the
web password that ``/api/v1/staff/login`` takes since issue 12 (the PIN opens kiosk staff
sessions only; the password's count-before-check is ``record_server.passwords``): twelve
parallel wrong passwords lock the account after exactly five, against one and two worker processes
on PostgreSQL; unknown, inactive, locked and wrong get one answer; the lock ends by itself and
the next one lasts longer (``serve --lockout-steps``, the test knob for the backoff); the log-in
rate limit is one count for every worker; ``--workers`` is refused on SQLite."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from library_core.rules import PinLockout
from tests.support.postgres import PostgresCluster, postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    PYTHON,
    REPO,
    STAFF_PASSWORD,
    ServerProcess,
    server_factory_fixture,
)

WRONG = "wrong-Password-975310"
FIVE = PinLockout().max_attempts


def _post(server: ServerProcess, staff_no: str, pin: str) -> requests.Response:
    return requests.post(f"{server.url}/api/v1/staff/login", timeout=60,
                         json={"staff_no": staff_no, "password": pin})


def _answer(resp: requests.Response) -> tuple[int, str]:
    return resp.status_code, resp.text


def _parallel(server: ServerProcess, attempts: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """All ``attempts`` (staff no, PIN) at once, one thread and one connection each."""
    answers: list[tuple[int, str] | None] = [None] * len(attempts)
    barrier = threading.Barrier(len(attempts))

    def one(i: int, staff_no: str, pin: str) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            resp = http.post(f"{server.url}/api/v1/staff/login", timeout=60,
                             json={"staff_no": staff_no, "password": pin})
        answers[i] = _answer(resp)

    threads = [threading.Thread(target=one, args=(i, *a)) for i, a in enumerate(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert None not in answers
    return [a for a in answers if a is not None]


def _staff_row(url: str, staff_no: str) -> tuple[int, bool, dt.datetime | None]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT password_failures, password_locked_until FROM staff"
                                    " WHERE staff_no = :s"), {"s": staff_no}).one()
    finally:
        engine.dispose()
    until = (dt.datetime.fromisoformat(row.password_locked_until)
             if row.password_locked_until else None)
    return int(row.password_failures), until is not None, until


def _workers_of(server: ServerProcess) -> int:
    """How many uvicorn worker processes the server process has spawned."""
    assert server.proc is not None
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server.proc.pid and b"spawn_main" in cmdline:
            count += 1
    return count


def _server(cluster: PostgresCluster, factory: Callable[..., ServerProcess], workers: int,
            *extra: str, login_rate: int = 1000) -> tuple[ServerProcess, str]:
    url = cluster.create_database()
    server = factory(url, serve_args=("--workers", str(workers), *extra), login_rate=login_rate)
    server.cli("migrate")
    server.create_staff("S0001", role="desk")
    server.create_staff("S0002", role="desk")
    server.start()
    assert _workers_of(server) == (workers if workers > 1 else 0)
    return server, url


@pytest.mark.parametrize("workers", [1, 2])
def test_twelve_parallel_wrong_pins_lock_after_five(
        postgres_cluster: PostgresCluster,  # noqa: F811
        server_factory: Callable[..., ServerProcess], workers: int) -> None:  # noqa: F811
    server, url = _server(postgres_cluster, server_factory, workers)
    answers = _parallel(server, [("S0001", WRONG)] * 12)
    refused = answers[0]
    assert refused[0] == 401
    assert answers == [refused] * 12
    failures, locked, until = _staff_row(url, "S0001")
    # exactly five counted: the fifth locked, the seven after it found the account locked
    assert (failures, locked) == (FIVE, True) and until is not None
    # the right PIN while locked, an unknown staff number, an inactive account: the same answer
    assert _answer(_post(server, "S0001", STAFF_PASSWORD)) == refused
    assert _answer(_post(server, "S9999", WRONG)) == refused
    assert _answer(_post(server, "S9999", STAFF_PASSWORD)) == refused
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE staff SET active = false WHERE staff_no = 'S0002'"))
    engine.dispose()
    assert _answer(_post(server, "S0002", STAFF_PASSWORD)) == refused
    assert _staff_row(url, "S0001") == (failures, locked, until)  # nothing counted while locked
    # a supervisor's unlock lets the right PIN in
    server.cli("unlock-staff", "--staff-no", "S0001")
    assert _post(server, "S0001", STAFF_PASSWORD).status_code == 200


def test_twelve_parallel_mixed_pins_on_two_workers_never_unlock(
        postgres_cluster: PostgresCluster,  # noqa: F811
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    """Wrong PINs racing each other across two workers, then more while locked: the count stops
    at five, the lock stays, and the right PIN sent during the lock does not lift it."""
    server, url = _server(postgres_cluster, server_factory, 2)
    first = _parallel(server, [("S0001", WRONG)] * 6)
    assert {a[0] for a in first} == {401}
    before = _staff_row(url, "S0001")
    assert before[:2] == (FIVE, True)
    again = _parallel(server, [("S0001", WRONG)] * 5 + [("S0001", STAFF_PASSWORD)])
    assert again == [first[0]] * 6
    assert _staff_row(url, "S0001") == before


def _wait_past(until: dt.datetime) -> None:
    """Sleep until the wall clock has passed ``until`` (bounded: a lock here lasts seconds)."""
    deadline = time.monotonic() + 30
    while dt.datetime.now(dt.UTC) <= until:
        assert time.monotonic() < deadline, "lock time not reached"
        time.sleep(0.1)


def _lock_with_wrong_pins(server: ServerProcess, url: str, count: int
                          ) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """``count`` wrong PINs, the last of which locks; (sent after, answered before, until)."""
    for _ in range(count - 1):
        assert _post(server, "S0001", WRONG).status_code == 401
        assert _staff_row(url, "S0001")[1] is False
    sent = dt.datetime.now(dt.UTC)
    assert _post(server, "S0001", WRONG).status_code == 401
    answered = dt.datetime.now(dt.UTC)
    until = _staff_row(url, "S0001")[2]
    assert until is not None
    return sent, answered, until


def test_the_lock_expires_and_the_next_lasts_longer(
        postgres_cluster: PostgresCluster,  # noqa: F811
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server, url = _server(postgres_cluster, server_factory, 2, "--lockout-steps", "1,3")
    policy = PinLockout(steps_s=(1, 3))
    sent, answered, until = _lock_with_wrong_pins(server, url, FIVE)
    step = dt.timedelta(seconds=policy.lock_seconds(1))
    assert sent + step <= until <= answered + step
    assert _post(server, "S0001", STAFF_PASSWORD).status_code == 401  # locked
    _wait_past(until)
    # the lock ended by itself; five more wrong PINs lock it again, for the second step
    sent, answered, until = _lock_with_wrong_pins(server, url, FIVE)
    step = dt.timedelta(seconds=policy.lock_seconds(2))
    assert policy.lock_seconds(2) > policy.lock_seconds(1)
    assert sent + step <= until <= answered + step
    assert _staff_row(url, "S0001")[0] == 2 * FIVE
    assert _post(server, "S0001", STAFF_PASSWORD).status_code == 401  # locked
    _wait_past(until)
    # a right log-in clears the count: the next lockout is the first step again
    assert _post(server, "S0001", STAFF_PASSWORD).status_code == 200
    assert _staff_row(url, "S0001") == (0, False, None)
    sent, answered, until = _lock_with_wrong_pins(server, url, FIVE)
    step = dt.timedelta(seconds=policy.lock_seconds(1))
    assert sent + step <= until <= answered + step


def test_the_rate_limit_is_one_count_for_two_workers(
        postgres_cluster: PostgresCluster,  # noqa: F811
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server, _url = _server(postgres_cluster, server_factory, 2, login_rate=6)
    # unknown staff numbers: no lockout, only the rate limit; new connections at once, so
    # both workers take some
    answers = _parallel(server, [(f"S9{n:03d}", WRONG) for n in range(16)])
    assert sorted(a[0] for a in answers) == [401] * 6 + [429] * 10


def test_workers_need_postgresql(tmp_path: Path) -> None:
    res = subprocess.run(
        [str(PYTHON), "-m", "record_server", "serve", "--workers", "2", "--data-dir",
         str(tmp_path), "--database-url", f"sqlite:///{tmp_path / 'r.sqlite3'}"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={"RECORD_SERVER_LIBRARY_KEY": "unit-test-library-key-0123456789",
             "PATH": "/usr/bin:/bin"})
    assert res.returncode == 2
    assert "--workers: 2 worker processes need PostgreSQL" in res.stderr
    assert not (tmp_path / "r.sqlite3").exists()  # refused before anything was made


@pytest.mark.parametrize("value", ["0", "65", "-1"])
def test_workers_out_of_range_are_refused(tmp_path: Path, value: str) -> None:
    res = subprocess.run(
        [str(PYTHON), "-m", "record_server", "serve", "--workers", value, "--data-dir",
         str(tmp_path), "--database-url", "postgresql+psycopg://postgres@127.0.0.1:1/none"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={"RECORD_SERVER_LIBRARY_KEY": "unit-test-library-key-0123456789",
             "PATH": "/usr/bin:/bin"})
    assert res.returncode == 2 and "--workers: must be 1 to 64" in res.stderr

"""The record server installs and runs on its own: ``pip install ".[server]"`` into a fresh venv
(no Kivy, no kiosk hardware libraries, no test tools) gives a working ``record-server`` whose
installed copy, run away from the source tree, migrates, serves and publishes its fee schedule.

Why this does not rerun the server's tests: ``make test`` already runs all of tests/server in
.venv-server, a venv made by scripts/setup.sh with the same extra and the same pins
(constraints.txt) plus the test tools of tests/server/requirements.txt, and
tests/server/test_server_venv.py checks in that stage that the kiosk's libraries are absent.
That venv is an editable install (so it tests the working tree); what it cannot show is that a
plain, non-editable install from a fresh venv works: packages and package data (migrations, the
fee schedule) shipped, nothing of the kiosk pulled in. This test shows that, in about a minute
instead of rerunning the suite.

The venv is made in a temporary directory beside a copy of the sources (so no build files land
in the work tree). pip may use its cache and the package registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import requests

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "library_core", "kiosk", "devices", "server_client",
           "record_server", "config")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
KIOSK_LIBRARIES = ("kivy", "smartcard", "escpos", "cv2")


def _copy(names: tuple[str, ...], dest: Path) -> None:
    for name in names:
        source, target = ROOT / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=IGNORE)
        else:
            shutil.copy(source, target)


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _serve(server: Path, data: Path, cwd: Path, env: dict[str, str]
           ) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (data.parent / "server.log").open("wb")
    proc = subprocess.Popen([str(server), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--data-dir", str(data)],
                            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    raise AssertionError((data.parent / "server.log").read_text()[-3000:])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_server_extra_alone_installs_and_its_installed_copy_serves(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _copy(SOURCES, src)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, 120)
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    install = _run([python, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                    f"{src}[server]"], tmp_path, env, 600)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    shutil.rmtree(src)  # from here on only the installed copy exists

    run = tmp_path / "run"  # an empty working directory: nothing of ours on sys.path but site
    run.mkdir()
    probe = ("import importlib.util as u, json, record_server, library_core\n"
             f"print(json.dumps({{'present': [m for m in {KIOSK_LIBRARIES!r}"
             " if u.find_spec(m) is not None],"
             " 'server': record_server.__file__, 'core': library_core.__file__}))")
    found = json.loads(_run([python, "-c", probe], run, env, 60).stdout)
    assert found["present"] == []  # none of the kiosk's UI or hardware libraries came along
    site = str(venv / "lib")
    assert found["server"].startswith(site) and found["core"].startswith(site)  # installed copies

    server = venv / "bin" / "record-server"
    cli = _run([str(server), "--help"], run, env, 60)
    assert cli.returncode == 0 and "serve" in cli.stdout, cli.stdout + cli.stderr

    data = tmp_path / "data"
    migrated = _run([str(server), "migrate", "--data-dir", str(data)], run, env, 120)
    assert migrated.returncode == 0, migrated.stderr[-3000:]  # the Alembic scripts were shipped
    proc, url = _serve(server, data, run, {**env, "RECORD_SERVER_LIBRARY_KEY": "x" * 32})
    try:
        enrolled = _run([str(server), "enroll-kiosk", "--kiosk-id", "K01", "--data-dir",
                         str(data)], run, env, 120)
        assert enrolled.returncode == 0, enrolled.stderr[-3000:]
        token = requests.post(f"{url}/api/v1/kiosks/enroll", timeout=10, json={
            "kiosk_id": "K01", "code": enrolled.stdout.strip().splitlines()[-1]}).json()["token"]
        page = requests.get(f"{url}/api/v1/kiosks/K01/changes", timeout=10,
                            params={"limit": 1000, "cursor": 0},
                            headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        proc.terminate()
        proc.wait(20)
    fees = [c["data"] for c in page["changes"] if c["entity"] == "fee_schedule"]
    shipped = tomllib.loads((ROOT / "record_server" / "fees.toml").read_text(encoding="utf-8"))
    assert len(fees) == 1 and fees[0]["renewal_fee"] == shipped["renewal_fee"]  # package data

"""The record server installs and runs on its own: ``pip install ".[server]"`` into a clean venv
(no Kivy, no kiosk hardware libraries) gives a working ``record-server``, and the server's own
tests pass there against the installed packages.

The venv is made in a temporary directory beside a copy of the sources (so no build files land
in the work tree) and a copy of the server's test files plus tests/support; tests/support starts
servers with ``<root>/.venv/bin/python``, which there is the clean venv. pip may use its cache
and the package registry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "library_core", "kiosk", "devices", "server_client",
           "record_server", "config")
# The server's rule tests, its embedded start and its API through a real server process: on
# SQLite, and the push/pull round on PostgreSQL too (psycopg from the extra). The full server
# suite (both databases, bad requests, conflicts, concurrency) runs in the main venv; here each
# test starts a server (5-10 s on a loaded machine), so this keeps to about three minutes.
SERVER_TESTS = (
    "tests/unit/test_record_server_rules.py",
    "tests/integration/test_server_embedded.py",
    "tests/integration/test_server_api.py",
)
SELECT = "not postgres or push_applies_once"
SUPPORT = ("tests/__init__.py", "tests/conftest.py", "tests/unit/__init__.py",
           "tests/integration/__init__.py", "tests/support")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


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


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_server_extra_alone_installs_runs_and_passes_the_server_tests(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _copy(SOURCES, src)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    venv = tmp_path / ".venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, 120)
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    install = _run([python, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
                    f"{src}[server]", "pytest", "pytest-timeout", "httpx", "hypothesis"],
                   tmp_path, env, 600)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]

    probe = ("import importlib.util as u, json, record_server, library_core\n"
             "print(json.dumps({'absent': [m for m in ('kivy', 'smartcard', 'escpos', 'cv2')"
             " if u.find_spec(m) is not None],"
             " 'server': record_server.__file__, 'core': library_core.__file__}))")
    found = json.loads(_run([python, "-c", probe], tmp_path, env, 60).stdout)
    assert found["absent"] == []  # none of the kiosk's UI or hardware libraries came along
    site = str(venv / "lib")
    assert found["server"].startswith(site) and found["core"].startswith(site)  # installed copies

    cli = _run([str(venv / "bin" / "record-server"), "--help"], tmp_path, env, 60)
    assert cli.returncode == 0 and "serve" in cli.stdout, cli.stdout + cli.stderr

    _copy(SUPPORT + SERVER_TESTS, tmp_path)
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["pytest"][
        "ini_options"]["markers"]
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider --strict-markers\ntimeout = 300\n"
        "filterwarnings = ignore::DeprecationWarning\nmarkers =\n"
        + "".join(f"    {m}\n" for m in markers), encoding="utf-8")
    tests = _run([python, "-m", "pytest", "-q", "-k", SELECT, *SERVER_TESTS], tmp_path, env, 800)
    assert tests.returncode == 0, tests.stdout[-6000:] + tests.stderr[-2000:]
    summary = tests.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 15 and "failed" not in summary, summary

"""make test's server stage runs tests/server in .venv-server: the server extra alone (an
editable install of the working tree, made by scripts/setup.sh) plus the test tools in
tests/server/requirements.txt. These tests check that venv: none of the kiosk's UI or hardware
libraries is importable there, record_server and library_core come from the source tree through
that install, and its ``record-server`` command runs.

The venv is checked through its own interpreter, so the checks hold whichever python runs
pytest; the one check of the running session itself skips outside that venv (make test never
runs tests/server elsewhere).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_VENV = ROOT / ".venv-server"
KIOSK_LIBRARIES = ("kivy", "smartcard", "escpos", "cv2")
SERVER_LIBRARIES = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg")
PROBE = f"""
import importlib.metadata as md, importlib.util as u, json, sys
import library_core, record_server
print(json.dumps({{
    "present": [m for m in {KIOSK_LIBRARIES + SERVER_LIBRARIES!r} if u.find_spec(m) is not None],
    "server": record_server.__file__, "core": library_core.__file__, "prefix": sys.prefix,
    "direct_url": json.loads(md.distribution("library-kiosk").read_text("direct_url.json")),
}}))
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}


def _server_venv_bin(name: str) -> Path:
    path = SERVER_VENV / "bin" / name
    assert path.exists(), f"{path} is missing: run scripts/setup.sh all (make test does)"
    return path


def test_server_venv_has_the_server_extra_and_none_of_the_kiosk_libraries(tmp_path: Path
                                                                          ) -> None:
    # From an empty directory, so only the venv's install can put our packages on sys.path.
    out = subprocess.run([str(_server_venv_bin("python")), "-c", PROBE], cwd=tmp_path,
                         env=_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout)
    assert found["present"] == list(SERVER_LIBRARIES)  # and no kivy, smartcard, escpos, cv2
    assert Path(found["prefix"]) == SERVER_VENV
    assert found["direct_url"] == {"url": ROOT.as_uri(), "dir_info": {"editable": True}}
    assert Path(found["server"]) == ROOT / "record_server" / "__init__.py"
    assert Path(found["core"]) == ROOT / "library_core" / "__init__.py"


def test_server_venv_record_server_command_runs(tmp_path: Path) -> None:
    out = subprocess.run([str(_server_venv_bin("record-server")), "--help"], cwd=tmp_path,
                         env=_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "serve" in out.stdout and "migrate" in out.stdout


def test_this_session_runs_without_the_kiosk_libraries() -> None:
    if Path(sys.prefix) != SERVER_VENV:
        pytest.skip("checks make test's server stage, which runs tests/server in .venv-server")
    assert [m for m in KIOSK_LIBRARIES if importlib.util.find_spec(m) is not None] == []
    assert [m for m in KIOSK_LIBRARIES if m in sys.modules] == []
    import library_core
    import record_server

    assert Path(record_server.__file__ or "") == ROOT / "record_server" / "__init__.py"
    assert Path(library_core.__file__ or "") == ROOT / "library_core" / "__init__.py"

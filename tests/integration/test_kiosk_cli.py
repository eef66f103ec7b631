"""The ``kiosk`` command: config checking names the bad key; enrollment against the real
record server process stores a token that the server then accepts, and a code works once."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import requests

from tests.support.server_process import REPO, ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.tls import TlsFiles, tls_files_fixture  # noqa: F401

PYTHON = str(REPO / ".venv" / "bin" / "python")


def kiosk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "kiosk.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def write_config(tmp_path: Path, server_url: str, extra: str = "", ca_file: str = "") -> Path:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(
        f'[kiosk]\nid = "K07"\nkiosk_no = 7\nmode = "production"\ndata_dir = "{tmp_path}/data"\n'
        f'[secrets]\nkiosk_token_file = "{tmp_path}/secret/kiosk.token"\n'
        f'[server]\nurl = "{server_url}"\nca_file = "{ca_file}"\n'
        f'[fees]\nfile = "{REPO}/config/fees.toml"\n{extra}', encoding="utf-8")
    return cfg


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "https://127.0.0.1:9", '[printer]\npaper_width_mm = 70\n')
    res = kiosk("check-config", "--config", str(cfg), env={"LIBRARY_KEY": "k" * 32})
    assert res.returncode == 2
    assert "printer.paper_width_mm" in res.stderr
    res = kiosk("check-config", "--config", str(cfg), env={"LIBRARY_KEY": ""})
    assert res.returncode == 2 and "printer.paper_width_mm" in res.stderr
    good = write_config(tmp_path, "https://127.0.0.1:9")
    assert kiosk("check-config", "--config", str(good), env={"LIBRARY_KEY": ""}).returncode == 2
    ok = kiosk("check-config", "--config", str(good), env={"LIBRARY_KEY": "k" * 32})
    assert ok.returncode == 0 and "K07" in ok.stdout


def test_enroll_stores_a_token_the_server_accepts(server_factory, tmp_path: Path,  # noqa: F811
                                                  tls_files: TlsFiles) -> None:  # noqa: F811
    server: ServerProcess = server_factory(tls_cert=tls_files.cert, tls_key=tls_files.key,
                                           ca_file=tls_files.ca_file).start()
    code = server.cli("enroll-kiosk", "--kiosk-id", "K07").splitlines()[-1]
    cfg = write_config(tmp_path, server.url, ca_file=str(tls_files.ca_file))
    env = {"LIBRARY_KEY": "k" * 32}
    res = kiosk("enroll", "--config", str(cfg), "--code", code, env=env)
    assert res.returncode == 0, res.stderr
    token_file = tmp_path / "secret" / "kiosk.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    pulled = requests.get(f"{server.url}/api/v1/kiosks/K07/changes?cursor=0&limit=1",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10,
                          verify=server.verify)
    assert pulled.status_code == 200
    again = kiosk("enroll", "--config", str(cfg), "--code", code, env=env)  # one-time code
    assert again.returncode == 1 and "enrollment failed" in again.stderr

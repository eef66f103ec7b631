"""Transport (issue 11 point 6) through real processes and real TLS: ``record-server serve`` with
a throwaway CA's certificate serves HTTPS, and a kiosk whose ``kiosk.toml`` names that CA in
``server.ca_file`` syncs with it. Without the CA, with another CA, or against a certificate for
another host, the round fails saying ``certificate`` and nothing reaches the server. ``serve``
refuses missing, unreadable, encrypted or mismatched TLS files and plain HTTP off loopback
before it touches the database; ``kiosk check-config`` refuses an http:// URL outside demo mode.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from config.settings import Settings, load_settings
from server_client.store import Store
from server_client.sync import SyncEngine, SyncLoop
from server_client.sync.client import RecordServerClient
from tests.support.server_process import REPO, ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import TEST_KEY, make_env
from tests.support.tls import TlsFiles, tls_files_fixture  # noqa: F401

PYTHON = str(REPO / ".venv" / "bin" / "python")


def _settings(tmp_path: Path, url: str, ca_file: Path | None = None) -> Settings:
    """A production kiosk.toml on disk, loaded the way ``kiosk run`` loads it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "kiosk.toml"
    ca_line = f'ca_file = "{ca_file}"\n' if ca_file else ""
    cfg.write_text(
        f'[kiosk]\nid = "K01"\nkiosk_no = 1\nmode = "production"\ndata_dir = "{tmp_path}/data"\n'
        f'[server]\nurl = "{url}"\n{ca_line}'
        f'[fees]\nfile = "{REPO}/config/fees.toml"\n', encoding="utf-8")
    return load_settings(cfg, env={"LIBRARY_KEY": TEST_KEY.decode()})


def _loop(settings: Settings, store: Store, token: str, sleeps: list[float]) -> SyncLoop:
    client = RecordServerClient.from_settings(settings.server, settings.kiosk.id, token)
    client.retry.sleeper = sleeps.append  # a retry would show here (and not cost real time)
    return SyncLoop(SyncEngine(store, client))


def _outbox(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.read("SELECT * FROM outbox ORDER BY seq")]


@pytest.fixture
def tls_server(server_factory: Callable[..., ServerProcess],  # noqa: F811
               tls_files: TlsFiles) -> ServerProcess:  # noqa: F811
    server = server_factory(tls_cert=tls_files.cert, tls_key=tls_files.key,
                            ca_file=tls_files.ca_file)
    server.cli("migrate")
    return server.start()


def test_a_sync_round_over_https_with_the_library_ca_applies(
        tmp_path: Path, tls_server: ServerProcess, tls_files: TlsFiles) -> None:  # noqa: F811
    assert tls_server.url.startswith("https://127.0.0.1:")
    token = tls_server.enroll("K01")
    settings = _settings(tmp_path, tls_server.url, ca_file=tls_files.ca_file)
    assert settings.server.ca_file == str(tls_files.ca_file)
    env = make_env(tmp_path / "k.sqlite3")
    env.new_card(1)
    pending = env.store.pending_count()
    assert pending > 0
    sleeps: list[float] = []
    status = _loop(settings, env.store, token, sleeps).run_once()
    assert status.online and status.state == "online" and status.last_error == ""
    assert env.store.pending_count() == 0
    assert env.store.count("outbox", "status = 'applied'") == pending
    assert sleeps == []


@pytest.mark.parametrize("trust", ["system CAs only", "another CA"])
def test_a_certificate_that_does_not_verify_fails_the_round_and_pushes_nothing(
        tmp_path: Path, tls_server: ServerProcess, tls_files: TlsFiles,  # noqa: F811
        trust: str) -> None:
    token = tls_server.enroll("K01")
    ca = None if trust == "system CAs only" else tls_files.other_ca.pem
    env = make_env(tmp_path / "k.sqlite3")
    env.new_card(1)
    before = _outbox(env.store)
    sleeps: list[float] = []
    status = _loop(_settings(tmp_path, tls_server.url, ca_file=ca), env.store, token,
                   sleeps).run_once()
    assert not status.online and status.state == "offline"
    assert status.last_error == "error.sync.certificate"
    assert status.pending == len(before)
    assert _outbox(env.store) == before  # nothing marked sent
    assert sleeps == []  # a certificate failure is not retried
    # the server got nothing: with the right CA every event is new to it ("applied", no
    # "duplicate")
    good = _settings(tmp_path / "good", tls_server.url, ca_file=tls_files.ca_file)
    assert _loop(good, env.store, token, sleeps).run_once().online
    assert env.store.count("outbox", "status = 'applied'") == len(before)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_certificate_for_another_host_is_refused(
        tmp_path: Path, server_factory: Callable[..., ServerProcess],  # noqa: F811
        tls_files: TlsFiles) -> None:  # noqa: F811
    cert, key = tls_files.ca.issue(tmp_path / "elsewhere", "elsewhere", ("records.example",))
    server = server_factory(tls_cert=cert, tls_key=key)
    server.cli("migrate")
    server.verify = False  # the helper's own requests only: the kiosk's are what is tested
    server.start()
    token = server.enroll("K01")
    env = make_env(tmp_path / "k.sqlite3")
    env.new_card(1)
    before = _outbox(env.store)
    status = _loop(_settings(tmp_path, server.url, ca_file=tls_files.ca_file), env.store,
                   token, []).run_once()
    assert status.state == "offline" and status.last_error == "error.sync.certificate"
    assert _outbox(env.store) == before


# ---- record-server serve: the transport rule, checked before anything starts ----------------

def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "srv"
    return subprocess.run(
        [PYTHON, "-m", "record_server", "serve", "--data-dir", str(data), "--port", "9", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, env=dict(os.environ))


def _encrypted_key(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    return path


def _bad_serve_cases(tmp_path: Path, tls: TlsFiles) -> list[tuple[list[str], str, str]]:
    other_cert, other_key = tls.other_ca.issue(tmp_path / "other-server")
    missing = str(tmp_path / "missing.pem")
    return [
        (["--tls-cert", missing, "--tls-key", str(tls.key)], "--tls-cert",
         f"cannot read {missing}: No such file or directory"),
        (["--tls-cert", str(tls.cert), "--tls-key", str(tmp_path)], "--tls-key",
         f"cannot read {tmp_path}: Is a directory"),
        (["--tls-cert", str(tls.cert), "--tls-key", str(other_key)], "--tls-key",
         f"{other_key} is not the key of the certificate in {tls.cert}"),
        (["--tls-cert", str(tls.key), "--tls-key", str(tls.key)], "--tls-cert",
         "holds no PEM certificate"),
        (["--tls-cert", str(tls.cert), "--tls-key", str(other_cert)], "--tls-key",
         "holds no PEM private key"),
        (["--tls-cert", str(tls.cert), "--tls-key", str(_encrypted_key(tmp_path / "enc.key"))],
         "--tls-key", "is encrypted"),
        (["--tls-cert", str(tls.cert)], "--tls-key", "give both or neither"),
        (["--tls-key", str(tls.key)], "--tls-cert", "give both or neither"),
        (["--host", "0.0.0.0"], "--host", "0.0.0.0 is not a loopback address"),
        (["--host", "192.0.2.10"], "--host", "give --tls-cert and --tls-key"),
        (["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--allow-plain-http"],
         "--allow-plain-http", "contradicts --tls-cert"),
    ]


def test_serve_refuses_bad_tls_files_and_plain_http_off_loopback(
        tmp_path: Path, tls_files: TlsFiles) -> None:  # noqa: F811
    for args, option, reason in _bad_serve_cases(tmp_path, tls_files):
        res = _serve(tmp_path, *args)
        assert res.returncode == 2, (args, res.stderr)
        assert f"error.config: {option}: " in res.stderr and reason in res.stderr, \
            (args, res.stderr)
        assert not (tmp_path / "srv" / "records.sqlite3").exists()  # refused before the database


def test_serve_help_states_the_transport_rule() -> None:
    res = subprocess.run([PYTHON, "-m", "record_server", "serve", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    for words in ("--tls-cert FILE", "--tls-key FILE", "--allow-plain-http", "loopback",
                  "exit code 2"):
        assert words in res.stdout


def test_allow_plain_http_serves_off_loopback_with_a_warning(
        server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server = server_factory(serve_args=("--host", "0.0.0.0", "--allow-plain-http"))
    server.cli("migrate")
    server.start()  # healthz answered over plain HTTP
    assert "serving plain HTTP on 0.0.0.0 (--allow-plain-http)" in server.log_path.read_text()


def test_kiosk_check_config_refuses_http_outside_demo_mode(tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:8080", "http://records.example"):
        cfg = tmp_path / "kiosk.toml"
        cfg.write_text(f'[kiosk]\nmode = "production"\n[server]\nurl = "{url}"\n'
                       f'[fees]\nfile = "{REPO}/config/fees.toml"\n', encoding="utf-8")
        res = subprocess.run([PYTHON, "-m", "kiosk.cli", "check-config", "--config", str(cfg)],
                             cwd=REPO, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "LIBRARY_KEY": TEST_KEY.decode()})
        assert res.returncode == 2, res.stderr
        assert "server.url: must start with https:// outside demo mode" in res.stderr

"""Kinto (the off-the-shelf sync server) as a baseline: its own venv, PostgreSQL storage.

``running_kinto(pg_url)`` writes an ini, runs ``kinto migrate`` and ``kinto start`` (waitress,
one process, as Kinto ships it) on 127.0.0.1, waits for ``/v1/__heartbeat__`` and always stops
it. Records go through ``POST /v1/batch`` (batch_max_requests raised to 100).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from bench.common import RESULTS_DIR, ROOT, free_port

KINTO_VENV = RESULTS_DIR / "venv-kinto"
KINTO = KINTO_VENV / "bin" / "kinto"
AUTH = ("kiosk", "bench-secret")

INI = """\
[app:main]
use = egg:kinto
kinto.storage_backend = kinto.core.storage.postgresql
kinto.storage_url = {pg}
kinto.permission_backend = kinto.core.permission.postgresql
kinto.permission_url = {pg}
kinto.cache_backend = kinto.core.cache.memory
kinto.userid_hmac_secret = bench-only-not-a-secret-0123456789abcdef
kinto.batch_max_requests = 100
kinto.bucket_create_principals = system.Authenticated
multiauth.policies = basicauth
kinto.experimental_permissions_endpoint = false

[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = {port}

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = WARNING
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)s [%(name)s] %(message)s
"""


def ensure_installed() -> None:
    if not KINTO.exists():
        subprocess.run([str(ROOT / "scripts" / "bench-setup.sh")], check=True, timeout=600)


@contextlib.contextmanager
def running_kinto(pg_url: str) -> Iterator[str]:
    """Kinto on ``pg_url`` (a libpq URL ``postgresql://...``); yields its base URL."""
    ensure_installed()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-kinto-") as tmp:
        ini = Path(tmp) / "kinto.ini"
        ini.write_text(INI.format(pg=pg_url, port=port), encoding="utf-8")
        log_path = Path(tmp) / "kinto.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        subprocess.run([str(KINTO), "migrate", "--ini", str(ini)], check=True, env=env,
                       capture_output=True, timeout=120)
        with log_path.open("wb") as log:
            proc = subprocess.Popen([str(KINTO), "start", "--ini", str(ini)], env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"kinto exited: {log_path.read_text()[-2000:]}")
                try:
                    if requests.get(f"{url}/__heartbeat__", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"kinto not ready: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)


def prepare_collection(url: str, bucket: str = "bench", collection: str = "events") -> str:
    """Create the bucket and collection; returns the records path used in batch requests."""
    s = requests.Session()
    s.auth = AUTH
    s.put(f"{url}/buckets/{bucket}", json={}, timeout=10).raise_for_status()
    s.put(f"{url}/buckets/{bucket}/collections/{collection}", json={}, timeout=10
          ).raise_for_status()
    return f"/buckets/{bucket}/collections/{collection}/records"

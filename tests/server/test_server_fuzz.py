"""Schemathesis against the served OpenAPI description of a live server process: no 5xx.

Two runs per database: with a staff token over every operation, and with a kiosk token over
the kiosk's own sync endpoints (``kiosk_id`` pinned to its id so requests get past the access
check). The coverage phase is left out: schemathesis 4.32 crashes building it for the push
body (an internal AST recursion error), so examples, fuzzing and stateful phases run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
    server_fixture,
)

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"  # beside the running python


def _run(server: ServerProcess, token: str, tmp_path: Path, *extra: str) -> int:
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\n"path.kiosk_id" = "K01"\n')
    res = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(config), "run", f"{server.url}/openapi.json",
         "--checks", "not_a_server_error", "--phases", "examples,fuzzing,stateful",
         "--workers", "2", "--request-timeout", "20", "--seed", "20261124",
         "-H", f"Authorization: Bearer {token}", *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=400)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    found = re.search(r"(\d+) generated, (\d+) passed", out)
    assert found, out[-3000:]
    assert found.group(1) == found.group(2), out[-3000:]
    return int(found.group(1))


def test_no_server_error_over_generated_requests(server: ServerProcess, tmp_path: Path) -> None:
    kiosk_token = server.enroll("K01")
    staff_token = server.staff_token("S0001")
    cases = _run(server, kiosk_token, tmp_path, "--max-examples", "150",
                 "--include-path-regex", r"^/api/v1/kiosks/\{kiosk_id\}/(events|changes)$")
    cases += _run(server, staff_token, tmp_path, "--max-examples", "50")
    assert cases >= 1000
    log = server.log_path.read_text()
    statuses = re.findall(r"record_server\.access \S+ \S+ (\d{3}) ", log)
    assert len(statuses) >= 1000
    assert not [s for s in statuses if s.startswith("5")]

"""The record server's shape (issue 10): its own package and fee schedule, one router per
resource with a response model on every endpoint, no module of mixed jobs over ~400 lines."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from record_server.app import create_app
from record_server.config import FEES_PATH, load_config

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "record_server"
KIOSK_SIDE = ("kiosk", "devices", "server_client", "config")
MAX_LINES = 400


def _imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_record_server_imports_nothing_of_the_kiosk_side() -> None:
    bad = {str(p.relative_to(ROOT)): sorted(_imports(p.read_text(encoding="utf-8"))
                                            & set(KIOSK_SIDE))
           for p in SERVER.rglob("*.py")}
    assert len(bad) >= 15
    assert {k: v for k, v in bad.items() if v} == {}


def test_no_record_server_module_over_400_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in SERVER.rglob("*.py") if "migrations" not in p.parts}
    assert "record_server/app.py" in sizes
    assert {k: n for k, n in sizes.items() if n > MAX_LINES} == {}


def test_every_endpoint_answers_with_a_named_response_model(tmp_path: Path) -> None:
    spec = create_app(load_config(data_dir=tmp_path)).openapi()
    missing = []
    count = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            count += 1
            ok = next(code for code in op["responses"] if code.startswith("2"))
            schema = op["responses"][ok].get("content", {}).get("application/json", {}).get(
                "schema", {})
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
            if not ref:
                missing.append(f"{method.upper()} {path}")
    assert count >= 15
    assert missing == []


def test_routes_come_from_one_router_per_resource() -> None:
    from record_server.api import routers

    modules = {r.routes[0].endpoint.__module__ for r in routers.ALL}  # type: ignore[attr-defined]
    assert len(modules) == len(routers.ALL) >= 7
    app_source = (SERVER / "app.py").read_text(encoding="utf-8")
    assert "@app.get" not in app_source and "@app.post" not in app_source
    assert "select(" not in app_source


def test_fee_schedule_is_the_servers_own_package_data() -> None:
    assert FEES_PATH == SERVER / "fees.toml"
    server = tomllib.loads(FEES_PATH.read_text(encoding="utf-8"))
    kiosk = tomllib.loads((ROOT / "config" / "fees.toml").read_text(encoding="utf-8"))
    assert server == kiosk  # the kiosk's bundled copy and the server's default do not drift


BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {names!r}:
            raise ImportError('kiosk-side package imported: ' + name)
        return None
sys.meta_path.insert(0, Block())
from record_server.cli import main
raise SystemExit(main(['migrate', '--data-dir', {data!r}]))
"""


def test_server_migrates_and_publishes_fees_with_no_kiosk_files(tmp_path: Path) -> None:
    """Only library_core and record_server copied, kiosk-side imports refused: ``migrate``
    (which loads the fee schedule and publishes it) still works."""
    tree = tmp_path / "tree"
    for pkg in ("library_core", "record_server"):
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    data = tmp_path / "data"
    script = BLOCKER.format(names=KIOSK_SIDE, data=str(data))
    out = subprocess.run([sys.executable, "-c", script], cwd=tree, capture_output=True,
                         text=True, timeout=120, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    import sqlite3

    with sqlite3.connect(data / "records.sqlite3") as conn:
        row = conn.execute("SELECT data FROM changes WHERE entity = 'fee_schedule'").fetchone()
    published = json.loads(row[0])
    assert published["renewal_fee"] == tomllib.loads(
        (tree / "record_server" / "fees.toml").read_text(encoding="utf-8"))["renewal_fee"]

"""Business rules (library_core, kiosk/services) import neither Kivy nor requests.

Two checks: a fresh interpreter imports every module of both packages and then looks at
``sys.modules`` (catches indirect imports through other packages), and an AST scan of the source
(catches imports inside functions that the first check would not execute).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("library_core", "kiosk/services")
FORBIDDEN = ("kivy", "requests")


def _modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


def test_there_are_modules_to_check() -> None:
    mods = _modules()
    assert "kiosk.services.cards" in mods and "library_core.tokens" in mods


def test_importing_every_module_loads_no_forbidden_package() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for m in {_modules()!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _forbidden_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in
              ("import_module", "__import__") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        found += [n for n in names if n.split(".")[0] in FORBIDDEN]
    return found


@pytest.mark.parametrize("path", [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_source_has_no_forbidden_import(path: Path) -> None:
    assert _forbidden_imports(path.read_text(encoding="utf-8")) == []


def test_the_scan_would_catch_one() -> None:
    src = "def f():\n    import kivy.app\n    from requests import get\n    importlib.import_module('kivy')\n"
    assert _forbidden_imports(src) == ["kivy.app", "requests", "kivy"]

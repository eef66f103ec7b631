"""The layer contracts in pyproject.toml, checked by import-linter's ``lint-imports``.

Each contract is run on the tree as it is, and on a temporary copy of the tree with one import
injected that the contract forbids: the copy must fail, naming the injected import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]
CONTRACTS = {c["id"]: c for c in CONFIG["contracts"]}

# contract id -> (module file in the copy, the import added to it, the edge lint-imports reports)
INJECTIONS = {
    "core": ("library_core/money.py", "import kivy.app", "library_core.money -> kivy"),
    "services": ("kiosk/services/pinlock.py", "import requests", "kiosk.services.pinlock -> requests"),
    "server": ("record_server/auth.py", "import kiosk.services", "record_server.auth -> kiosk"),
    "devices": ("devices/receipt_layout.py", "from kiosk.ui import bridge",
                "devices.receipt_layout -> kiosk.ui"),
}


def _lint(cwd: Path, contract: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def _copy_tree(dest: Path) -> Path:
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.po", "*.kv"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_every_layer_of_the_issue_has_a_contract_and_an_injection() -> None:
    assert set(CONTRACTS) == set(INJECTIONS) == {"core", "services", "server", "devices"}
    assert {"kivy", "requests", "sqlite3"} <= set(CONTRACTS["services"]["forbidden_modules"])
    assert {"kiosk", "devices", "server_client", "record_server", "config", "kivy"} <= set(
        CONTRACTS["core"]["forbidden_modules"])


@pytest.mark.parametrize("contract", sorted(INJECTIONS))
def test_the_tree_keeps_the_contract(contract: str) -> None:
    result = _lint(ROOT, contract)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("contract", sorted(INJECTIONS))
def test_a_forbidden_import_breaks_the_contract(contract: str, tmp_path: Path) -> None:
    copy = _copy_tree(tmp_path)
    module, statement, edge = INJECTIONS[contract]
    target = copy / module
    target.write_text(target.read_text("utf-8") + f"\n{statement}  # injected by the test\n",
                      encoding="utf-8")
    result = _lint(copy, contract)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and edge in result.stdout, result.stdout

"""devices/ imports nothing of kiosk/ and no UI, its modules have no import cycle (the card
reader and its PC/SC driver had a lazy one), and every event source in the product is the one
``library_core.observable.EventSource`` (no hand-made subscriber list left)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from devices.camera_scanner import CameraScanner
from devices.card_reader import CardReaderBase
from devices.pcsc_card_reader import PcscCardReader
from devices.scanner import ScannerBase
from devices.serial_scanner import SerialScanner
from devices.simulated_card_reader import SimulatedCardReader
from devices.simulated_scanner import SimulatedScanner
from devices.wedge_scanner import KeyboardWedgeScanner
from library_core.observable import EventSource
from server_client.sync import SyncLoop

ROOT = Path(__file__).resolve().parents[2]
DEVICES = sorted((ROOT / "devices").glob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


@pytest.mark.parametrize("path", DEVICES, ids=lambda p: p.name)
def test_a_device_module_imports_nothing_of_the_kiosk_app_and_no_ui(path: Path) -> None:
    bad = sorted(m for m in _imports(path) if m.split(".")[0] in ("kiosk", "kivy"))
    assert bad == []


def test_importing_every_device_module_loads_no_kiosk_module_and_no_kivy() -> None:
    modules = [f"devices.{p.stem}" for p in DEVICES if p.stem != "__init__"]
    script = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in ('kiosk', 'kivy'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_device_modules_have_no_import_cycle_even_through_lazy_imports() -> None:
    graph = {f"devices.{p.stem}": {m for m in _imports(p) if m.startswith("devices.")}
             for p in DEVICES}
    assert _cycles(graph) == []
    assert not {m for m in graph["devices.card_reader"] if m != "devices.card_reader"}


def test_the_cycle_check_would_catch_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b", "a"]]


def test_every_event_source_is_the_one_base() -> None:
    for cls in (CardReaderBase, SimulatedCardReader, PcscCardReader, ScannerBase, SerialScanner,
                KeyboardWedgeScanner, CameraScanner, SimulatedScanner, SyncLoop):
        assert issubclass(cls, EventSource), cls


@pytest.mark.parametrize("path", [*DEVICES, ROOT / "server_client" / "sync" / "loop.py",
                                  ROOT / "kiosk" / "ui" / "bridge.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hand_made_subscriber_list_is_left(path: Path) -> None:
    names = {node.attr for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Attribute)}
    assert not names & {"_subscribers", "_listeners", "_subscribers_lock", "_listeners_lock"}

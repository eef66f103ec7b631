"""Shared pieces of the benchmarks: results, percentiles and the printed table."""

from __future__ import annotations

import math
import os
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Result:
    """One benchmark row. ``valid`` is False when the run did not do all the work it measures
    (events not applied, rows missing): the figure is then not comparable."""

    name: str
    metric: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    valid: bool = True

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def count(n: int) -> str:
    """``100000`` -> ``100k``; sizes that are not whole thousands as they are."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def summary_ms(samples: Sequence[float]) -> str:
    return (
        f"n={len(samples)} p50={percentile(samples, 50):.1f} ms "
        f"p95={percentile(samples, 95):.1f} ms mean={statistics.fmean(samples):.1f} ms"
    )


def format_table(results: Sequence[Result]) -> str:
    headers = ("benchmark", "metric", "value", "baseline", "ratio", "target", "met")
    rows = []
    for r in results:
        base = f"{r.baseline:.1f} {r.unit} ({r.baseline_name})" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        if not r.valid:
            met = "INVALID"
        rows.append((r.name, r.metric, f"{r.value:.1f} {r.unit}", base, ratio, r.target, met))
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for r in results:
        for note in r.notes:
            out.append(f"  [{r.name}] {note}")
    return "\n".join(out)


# -- helpers shared by the benchmarks ---------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"  # git-ignored: cached data sets, logs, venvs' markers


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of ``pid`` (default: this process) in MB, from /proc."""
    path = f"/proc/{pid or os.getpid()}/status"
    with open(path, encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def time_ms(fn: Callable[[], object], *, repeat: int, warmup: int = 3) -> list[float]:
    """Wall time of ``fn()`` in ms, ``repeat`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out

"""Shared pieces of the benchmarks: results, percentiles and the printed table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Result:
    """One benchmark row. ``lower_is_better`` decides how the ratio reads against the target."""

    name: str
    metric: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)

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
        rows.append((r.name, r.metric, f"{r.value:.1f} {r.unit}", base, ratio, r.target, met))
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for r in results:
        for note in r.notes:
            out.append(f"  [{r.name}] {note}")
    return "\n".join(out)

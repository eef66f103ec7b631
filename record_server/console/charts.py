"""Charts drawn as SVG on the server: no script, prints as it shows, readable by a screen reader
(each chart has a ``<title>`` and every bar its value as text). Hand-written because the few
shapes needed (vertical bars over days, horizontal bars per kiosk) are shorter than any chart
library's set-up, and this way the console has no JavaScript build chain."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

Series = Sequence[tuple[str, int]]


def _plain(value: int) -> str:
    return str(value)


def columns(series: Series, *, title: str, fmt: Callable[[int], str] = _plain,
            width: int = 640, height: int = 220) -> Markup:
    """Vertical bars, one per (label, value), labels under the bars."""
    n = max(1, len(series))
    top = max([v for _, v in series] + [1])
    left, bottom, head = 8, 34, 18
    slot = (width - 2 * left) / n
    bar = max(2.0, slot * 0.7)
    plot = height - bottom - head
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" '
             f'y2="{height - bottom}" class="axis"/>']
    step = max(1, n // 12)  # at most about a dozen labels under the bars
    for i, (label, value) in enumerate(series):
        h = plot * value / top
        x = left + i * slot + (slot - bar) / 2
        y = height - bottom - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                     f'class="bar"><title>{escape(label)}: {escape(fmt(value))}</title></rect>')
        if value and n <= 31:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" class="val">'
                         f'{escape(fmt(value))}</text>')
        if i % step == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 14}" '
                         f'class="lab">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(series: Series, *, title: str, fmt: Callable[[int], str] = _plain,
         width: int = 640) -> Markup:
    """Horizontal bars, one row per (label, value)."""
    row, label_w, pad = 24, 120, 8
    height = max(1, len(series)) * row + pad
    top = max([v for _, v in series] + [1])
    room = width - label_w - 80
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(series):
        y = pad / 2 + i * row
        w = room * value / top
        parts.append(f'<text x="{label_w - 6}" y="{y + 16}" class="lab end">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
                     f'class="bar"/><text x="{label_w + w + 6:.1f}" y="{y + 16}" class="val '
                     f'start">{escape(fmt(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals (display only; money stays integer fen)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"

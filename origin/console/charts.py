"""Charts as inline SVG, drawn on the server: pure functions from figures to markup.

Every chart is an `<svg role="img">` whose `<title>` names it and whose `<desc>` reads its values
out, so a screen reader hears the numbers and a page without JavaScript shows the picture. Sizes are
in the viewBox; the stylesheet makes charts as wide as their column. Colours come from classes
(the page's Content-Security-Policy allows no inline styles), text is escaped here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_ids = itertools.count(1)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as the page writes it ("12.5 MiB")


def _frame(kind: str, title: str, desc: str, width: int, height: int, body: str) -> Markup:
    """The chart around `body`, which the callers build from escaped text and numbers only."""
    n = next(_ids)
    return Markup(  # noqa: S704 - every caller's text goes through escape()
        f'<svg class="chart {kind}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart{n}t chart{n}d" preserveAspectRatio="xMinYMin meet">'
        f'<title id="chart{n}t">{escape(title)}</title><desc id="chart{n}d">{escape(desc)}</desc>'
        f"{body}</svg>"
    )


def bar_chart(title: str, bars: Sequence[Bar], *, width: int = 420, row: int = 26) -> Markup:
    """Horizontal bars, one row each: the label, the bar (scaled to the largest value), its value."""
    if not bars:
        return _frame("bars", title, "No values.", width, row, "")
    label_width, text_width = 140, 130
    room = width - label_width - text_width
    top = max((b.value for b in bars), default=0.0) or 1.0
    rows = []
    for i, bar in enumerate(bars):
        y = i * row
        length = 0.0 if bar.value <= 0 else max(2.0, room * bar.value / top)
        rows.append(
            f'<text class="label" x="{label_width - 8}" y="{y + row * 0.65:.1f}" text-anchor="end">'
            f"{escape(_clip(bar.label, 18))}</text>"
            f'<rect class="bar" x="{label_width}" y="{y + 5}" width="{length:.1f}" '
            f'height="{row - 10}" rx="2"/>'
            f'<text class="value" x="{label_width + length + 6:.1f}" y="{y + row * 0.65:.1f}">'
            f"{escape(bar.text)}</text>"
        )
    desc = "; ".join(f"{b.label}: {b.text}" for b in bars)
    return _frame("bars", title, desc, width, row * len(bars), "".join(rows))


def column_chart(
    title: str,
    columns: Sequence[Bar],
    *,
    top: float | None = None,
    empty: str = "none",
    unit: str = "",
    width: int = 360,
    height: int = 140,
) -> Markup:
    """Vertical columns over time (a month's days): scaled to `top` (else the largest value), the
    scale's top written on the left, every seventh label under the axis. The description reads out
    the columns that have a value; the others are `empty`. `unit` follows the scale's numbers."""
    if not columns:
        return _frame("columns", title, "No values.", width, height, "")
    axis, gap, below = 48, 1, 20
    plot = height - below - 8
    peak = top if top is not None else max((c.value for c in columns), default=0.0)
    scale = peak or 1.0
    step = (width - axis) / len(columns)
    body = [
        f'<line class="axis" x1="{axis}" y1="{plot + 8}" x2="{width}" y2="{plot + 8}"/>',
        f'<text class="value" x="{axis - 6}" y="18" text-anchor="end">{escape(_short(peak) + unit)}</text>',
        f'<text class="value" x="{axis - 6}" y="{plot + 8}" text-anchor="end">{escape("0" + unit)}</text>',
    ]
    for i, column in enumerate(columns):
        x = axis + i * step
        tall = 0.0 if column.value <= 0 else max(1.5, plot * min(column.value, scale) / scale)
        body.append(
            f'<rect class="bar" x="{x + gap / 2:.1f}" y="{plot + 8 - tall:.1f}" '
            f'width="{max(1.0, step - gap):.1f}" height="{tall:.1f}"/>'
        )
        if i % 7 == 0:
            body.append(
                f'<text class="label" x="{x + step / 2:.1f}" y="{height - 4}" text-anchor="middle">'
                f"{escape(_clip(column.label, 8))}</text>"
            )
    shown = [f"{c.label}: {c.text}" for c in columns if c.value > 0]
    desc = "; ".join(shown) + ("; " if shown else "") + f"other days: {empty}"
    return _frame("columns", title, desc, width, height, "".join(body))


def _short(value: float) -> str:
    """A scale's top as few characters: 950, 12k, 3.4M."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}" if value != int(value) else f"{int(value)}"


def meter(title: str, value: float, limit: float, text: str, *, width: int = 640) -> Markup:
    """How much of a limit is used: a track, the used part (marked past 80 %), and the words."""
    share = 0.0 if limit <= 0 else min(1.0, max(0.0, value / limit))
    kind = "high" if share >= 0.8 else "ok"
    body = (
        f'<rect class="track" x="0" y="0" width="{width}" height="14" rx="7"/>'
        f'<rect class="used {kind}" x="0" y="0" width="{width * share:.1f}" height="14" rx="7"/>'
    )
    return _frame("meter", title, text, width, 14, body)


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"

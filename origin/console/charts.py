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

"""Query insights for the console (origin/insights/): a database's top shapes and recommendations for
a window, built by insights' own report.

The report reads plans and catalog facts from the tenant database, now, on a connection of its own:
that wakes a paused database and counts as activity. So insights have a page of their own, opened on
request and never refreshed by itself; the database page, which refreshes every few seconds, only
links to it.
"""

from __future__ import annotations

import json
from typing import Any

from ..control.store import Database
from ..insights import report
from ..insights.figures import WINDOWS
from ..state import OriginState

DEFAULT_WINDOW = "day"


def window_of(asked: str | None) -> str:
    """The window asked for when it is one insights knows; else the default (a page never fails on it)."""
    return asked if asked in WINDOWS else DEFAULT_WINDOW


async def of(state: OriginState, db: Database, window: str) -> dict[str, Any]:
    """The report, after counting what this process holds (as `GET /v1/insights` does)."""
    await state.metering.meter.flush()
    await state.insights.notes.flush()
    found: dict[str, Any] = await report.build(
        state.store.pool,
        db.id,
        window,
        lambda: state.tenants.serving(db.id),
        lambda: state.insights.hypopg(db.id),
    )
    return found


def evidence_items(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """A recommendation's evidence as (name, value) lines: nested figures named by their path."""
    lines: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for name, inner in value.items():
                walk(f"{prefix}.{name}" if prefix else str(name), inner)
        elif isinstance(value, str):
            lines.append((prefix, value))
        elif isinstance(value, float):
            lines.append((prefix, f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"))
        elif isinstance(value, int) and not isinstance(value, bool):
            lines.append((prefix, f"{value:,}"))
        else:
            lines.append((prefix, json.dumps(value)))

    walk("", evidence)
    return lines

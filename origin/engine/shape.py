"""Rows → the JSON-protocol result of the query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .plan import ReadPlan
from .values import encode_output


def shape_read(plan: ReadPlan, rows: Sequence[Sequence[Any]]) -> Any:
    records = [{f.name: encode_output(f, row[i]) for i, f in enumerate(plan.columns)} for row in rows]
    if plan.single:
        return records[0] if records else None
    return records

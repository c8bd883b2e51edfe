"""A plan as SQL text with `$n` bind parameters. Values never enter the text."""

from __future__ import annotations

from typing import Any

from .plan import ReadPlan
from .quoting import ident, table


class Params:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def render_read(plan: ReadPlan) -> tuple[str, list[Any]]:
    params = Params()
    columns = ", ".join(ident(f.column) for f in plan.columns)
    sql = f"SELECT {columns} FROM {table(plan.model.schema, plan.model.table)}"
    clauses = [
        f"{ident(c.field.column)} IS NULL"
        if c.value is None
        else f"{ident(c.field.column)} = {params.add(c.value)}"
        for c in plan.conditions
    ]
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    if plan.order:
        sql += " ORDER BY " + ", ".join(
            f"{ident(f.column)}{' DESC' if desc else ''}" for f, desc in plan.order
        )
    if plan.limit is not None:
        sql += f" LIMIT {params.add(plan.limit)}"
    if plan.offset:
        sql += f" OFFSET {params.add(plan.offset)}"
    return sql, params.values

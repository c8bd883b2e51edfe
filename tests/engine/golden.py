"""Helpers for golden SQL tests: compile a query and show its statements with symbolic sources."""

from __future__ import annotations

from typing import Any

from origin.engine.engine import prepare
from origin.engine.params import Bound, Generated, Source
from origin.engine.program import Branch, Statement, Step
from origin.engine.request import parse
from origin.engine.schema import Schema


def _show(source: Source, env: Any) -> Any:
    if isinstance(source, Bound):
        return f"<{source.name}.{source.column}>"
    if isinstance(source, Generated):
        return f"<{source.kind}>"
    return source.get(env)


def _steps(steps: tuple[Step, ...], env: Any) -> list[Any]:
    out: list[Any] = []
    for s in steps:
        if isinstance(s, Statement):
            out.append((s.sql, [_show(p, env) for p in s.params]))
        elif isinstance(s, Branch):
            out.append((f"IF {s.test}", _steps(s.then, env), _steps(s.otherwise, env)))
        else:
            out.append((f"SET {s.target} = {s.source}",))
    return out


def statements(
    schema: Schema, model: str, action: str, arguments: dict[str, Any], selection: Any = None
) -> list[Any]:
    """[(sql, params)] of the compiled program; results of earlier steps show as <name.column>."""
    body = {
        "modelName": model,
        "action": action,
        "query": {"arguments": arguments, "selection": selection or {"$scalars": True}},
    }
    program, env = prepare(schema, parse(body))
    return _steps(program.steps, env)

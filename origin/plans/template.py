"""`templateSql` → SQL text with numbered placeholders and the list of values to bind.

A template is a list of fragments: `stringChunk` (SQL written by the client's compiler), `parameter`
(one placeholder), `parameterTuple` (one placeholder per item of a list argument, in parentheses;
`(NULL)` when the list is empty, so `IN (NULL)` matches nothing) and `parameterTupleList` (a list of
tuples, as for a multi-row `VALUES`). Placeholders are numbered across the whole statement.

A statement with more values than Postgres can bind (`MAX_BIND_VALUES`) is split into chunks along its
largest tuple argument when the plan marks it `chunkable`; the chunks' results are concatenated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import PlanError

# The extended protocol counts parameters in an int16; asyncpg refuses more than 32767.
MAX_BIND_VALUES = 32767


@dataclass(frozen=True)
class Statement:
    sql: str
    values: list[Any]
    scalar_types: list[str]  # the plan's scalar type per value, for binding decisions


@dataclass(frozen=True)
class ArgType:
    scalar_type: str
    arity: str  # scalar | list | tuple
    elements: tuple[ArgType, ...] = ()

    @staticmethod
    def parse(raw: Any) -> ArgType:
        if not isinstance(raw, dict):
            return ArgType("unknown", "scalar")
        elements = tuple(ArgType.parse(e) for e in raw.get("elements") or ())
        return ArgType(str(raw.get("scalarType") or "unknown"), str(raw.get("arity") or "scalar"), elements)


def _placeholder(fmt: dict[str, Any], number: int) -> str:
    prefix = str(fmt.get("prefix", "$"))
    return f"{prefix}{number}" if fmt.get("hasNumbering", True) else prefix


def render(
    fragments: Sequence[dict[str, Any]], args: Sequence[Any], arg_types: Sequence[Any], fmt: Any
) -> Statement:
    """One statement from a template whose arguments are already resolved to values."""
    placeholder_format = fmt if isinstance(fmt, dict) else {"prefix": "$", "hasNumbering": True}
    parts: list[str] = []
    values: list[Any] = []
    scalar_types: list[str] = []
    arg_index = 0

    def next_arg() -> tuple[Any, ArgType]:
        nonlocal arg_index
        if arg_index >= len(args):
            raise PlanError("The query template has more placeholders than arguments.")
        value = args[arg_index]
        kind = ArgType.parse(arg_types[arg_index] if arg_index < len(arg_types) else None)
        arg_index += 1
        return value, kind

    def bind(value: Any, scalar_type: str) -> str:
        values.append(value)
        scalar_types.append(scalar_type)
        return _placeholder(placeholder_format, len(values))

    for fragment in fragments:
        kind = fragment.get("type")
        if kind == "stringChunk":
            parts.append(str(fragment["chunk"]))
        elif kind == "parameter":
            value, arg_type = next_arg()
            parts.append(bind(value, arg_type.scalar_type))
        elif kind == "parameterTuple":
            value, arg_type = next_arg()
            items = value if isinstance(value, list) else [value]
            if not items:
                parts.append("(NULL)")
                continue
            prefix, suffix = str(fragment.get("itemPrefix", "")), str(fragment.get("itemSuffix", ""))
            rendered = [prefix + bind(item, arg_type.scalar_type) + suffix for item in items]
            parts.append("(" + str(fragment.get("itemSeparator", ",")).join(rendered) + ")")
        elif kind == "parameterTupleList":
            value, arg_type = next_arg()
            if not isinstance(value, list) or not value:
                raise PlanError("A parameterTupleList needs a non-empty list of tuples.")
            prefix, suffix = str(fragment.get("itemPrefix", "(")), str(fragment.get("itemSuffix", ")"))
            separator = str(fragment.get("itemSeparator", ","))
            groups = []
            for group in value:
                row = group if isinstance(group, list) else [group]
                types = arg_type.elements or tuple(ArgType("unknown", "scalar") for _ in row)
                if len(types) != len(row):
                    raise PlanError("A tuple in a parameterTupleList does not match its element types.")
                groups.append(
                    prefix
                    + separator.join(bind(v, t.scalar_type) for v, t in zip(row, types, strict=True))
                    + suffix
                )
            parts.append(str(fragment.get("groupSeparator", ",")).join(groups))
        else:
            raise PlanError(f"Unknown SQL template fragment `{kind}`.")
    return Statement("".join(parts), values, scalar_types)


def count_values(fragments: Sequence[dict[str, Any]], args: Sequence[Any]) -> int:
    total, index = 0, 0
    for fragment in fragments:
        kind = fragment.get("type")
        if kind == "stringChunk":
            continue
        value = args[index] if index < len(args) else None
        index += 1
        if kind == "parameter":
            total += 1
        elif kind == "parameterTuple":
            total += max(len(value), 1) if isinstance(value, list) else 1
        elif kind == "parameterTupleList" and isinstance(value, list):
            total += sum(len(g) if isinstance(g, list) else 1 for g in value)
    return total


def render_chunks(
    fragments: Sequence[dict[str, Any]],
    args: Sequence[Any],
    arg_types: Sequence[Any],
    fmt: Any,
    chunkable: bool,
    limit: int = MAX_BIND_VALUES,
) -> list[Statement]:
    """The statements to run for one template: one, or several when it binds too many values."""
    total = count_values(fragments, args)
    if total <= limit:
        return [render(fragments, args, arg_types, fmt)]
    position = _largest_tuple_argument(fragments, args)
    if not chunkable or position is None:
        raise PlanError(
            f"The query binds {total} values; Postgres accepts at most {limit} in one statement.",
            hint="Split the operation into smaller batches.",
        )
    items: list[Any] = args[position]
    width = max((len(i) if isinstance(i, list) else 1) for i in items) if items else 1
    fixed = total - sum((len(i) if isinstance(i, list) else 1) for i in items)
    per_chunk = (limit - fixed) // width
    if per_chunk < 1:
        raise PlanError(f"The query binds {fixed} values besides its largest list; the limit is {limit}.")
    statements = []
    for start in range(0, len(items), per_chunk):
        chunk_args = list(args)
        chunk_args[position] = items[start : start + per_chunk]
        statements.append(render(fragments, chunk_args, arg_types, fmt))
    return statements


def _largest_tuple_argument(fragments: Sequence[dict[str, Any]], args: Sequence[Any]) -> int | None:
    best, best_size, index = None, 0, 0
    for fragment in fragments:
        kind = fragment.get("type")
        if kind == "stringChunk":
            continue
        if kind in ("parameterTuple", "parameterTupleList") and index < len(args):
            value = args[index]
            if isinstance(value, list) and len(value) > best_size:
                best, best_size = index, len(value)
        index += 1
    return best

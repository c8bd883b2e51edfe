"""`process`: the in-memory operations a plan leaves to the server when SQL cannot express them for
the chosen strategy: distinct on fields, cursor / skip / take pagination, reversing, per parent (by
`linkingFields`, for the children of a separate-query include) and inside nested relations.

Order: distinct, then pagination, then reverse (the SQL ran in reversed order for a negative `take`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .datamap import parse_json


def _key(record: Any, fields: list[str]) -> tuple[Any, ...]:
    if not isinstance(record, Mapping):
        return (record,)
    return tuple(_hashable(record.get(f)) for f in fields)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _matches(record: Any, cursor: Mapping[str, Any]) -> bool:
    return isinstance(record, Mapping) and all(_same(record.get(k), v) for k, v in cursor.items())


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    return a is not None and b is not None and str(a) == str(b)


def _paginate(records: list[Any], pagination: Mapping[str, Any]) -> list[Any]:
    take: int | None = pagination.get("take")
    skip = pagination.get("skip") or 0
    cursor = pagination.get("cursor")
    if cursor:
        index = next((i for i, r in enumerate(records) if _matches(r, cursor)), None)
        if index is None:
            return []
        records = records[: index + 1] if take is not None and take < 0 else records[index:]
    if take is not None and take < 0:
        if skip:
            records = records[: len(records) - skip] if skip < len(records) else []
        return records[len(records) + take :] if -take < len(records) else records
    if skip:
        records = records[skip:]
    if take is not None:
        records = records[:take]
    return records


def _distinct(records: list[Any], fields: list[str]) -> list[Any]:
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for record in records:
        key = _key(record, fields)
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


def _apply_flat(records: list[Any], ops: Mapping[str, Any]) -> list[Any]:
    if ops.get("distinct"):
        records = _distinct(records, list(ops["distinct"]))
    if ops.get("pagination"):
        records = _paginate(records, ops["pagination"])
    if ops.get("reverse"):
        records = list(reversed(records))
    return records


def apply(data: Any, ops: Mapping[str, Any]) -> Any:
    """`data` (records, one record or null) after the operations `ops` (`InMemoryOps`)."""
    if data is None:
        return None
    single = not isinstance(data, list)
    records: list[Any] = [data] if single else list(data)
    linking = ops.get("linkingFields")
    if linking:
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for record in records:
            groups.setdefault(_key(record, list(linking)), []).append(record)
        records = [r for group in groups.values() for r in _apply_flat(group, ops)]
    else:
        records = _apply_flat(records, ops)
    nested = ops.get("nested") or {}
    if nested:
        for record in records:
            if not isinstance(record, dict):
                continue
            for field, nested_ops in nested.items():
                if field in record:
                    value = record[field]
                    if isinstance(value, str):
                        value = parse_json(value)
                    record[field] = apply(value, nested_ops)
    if single:
        return records[0] if records else None
    return records

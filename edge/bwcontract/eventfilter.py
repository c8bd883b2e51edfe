"""Filters on event records, with the operators of a query's `where`, evaluated in memory at the edge.

`{"email": {"endsWith": "@x.io"}, "OR": [{"age": {"gte": 18}}, {"NOT": {"role": "guest"}}]}`

Records carry values encoded like query results (`{"$type": "DateTime", "value": …}` and friends);
a filter may give a value plainly or tagged, and is compared in the record value's own type.

A filter matches a record exactly when the same `where` would select the row in SQL (NULLs
included). An old image may be partial (only the key, without REPLICA IDENTITY FULL): a field the
record does not carry could hold anything, so an event is delivered unless its filter is false for
every value that field could have — a partial image never hides an event that might have matched.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Collection
from typing import Any

COMPARISONS = ("equals", "not", "in", "notIn", "lt", "lte", "gt", "gte", "contains", "startsWith", "endsWith")
LOGIC = ("AND", "OR", "NOT")
MAX_NODES = 500
MAX_DEPTH = 16

Verdict = bool | None  # None: may match (the record lacks a field the filter names)


class FilterError(ValueError):
    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{message} (at `{path}`)")
        self.path = path


def _is_tagged(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"$type", "value"}


def _is_condition(value: Any) -> bool:
    return isinstance(value, dict) and not _is_tagged(value)


# --- validation ---------------------------------------------------------------------------------


def validate(where: Any, fields: Collection[str] | None = None) -> None:
    """Raise FilterError unless `where` is a well-formed filter (naming only `fields`, if given)."""
    budget = [MAX_NODES]
    _validate(where, fields, "where", 0, budget)


def _validate(where: Any, fields: Collection[str] | None, path: str, depth: int, budget: list[int]) -> None:
    if depth > MAX_DEPTH:
        raise FilterError("the filter is nested too deeply", path)
    if not isinstance(where, dict):
        raise FilterError("a filter is an object of fields and AND/OR/NOT", path)
    for name, spec in where.items():
        budget[0] -= 1
        if budget[0] < 0:
            raise FilterError(f"the filter has more than {MAX_NODES} conditions", path)
        here = f"{path}.{name}"
        if name in LOGIC:
            items = spec if isinstance(spec, list) else [spec]
            if name == "OR" and not isinstance(spec, list):
                raise FilterError("OR takes a list of filters", here)
            for i, item in enumerate(items):
                _validate(item, fields, f"{here}[{i}]", depth + 1, budget)
            continue
        if fields is not None and name not in fields:
            known = ", ".join(sorted(fields))
            raise FilterError(f"unknown field `{name}`; the model has: {known}", here)
        if _is_condition(spec):
            _validate_condition(spec, here, depth, budget)
        else:
            _validate_value(spec, here)


def _validate_condition(spec: dict[str, Any], path: str, depth: int, budget: list[int]) -> None:
    if not spec:
        raise FilterError("an empty condition", path)
    for op, operand in spec.items():
        here = f"{path}.{op}"
        if op == "mode":
            if operand not in ("default", "insensitive"):
                raise FilterError("mode is 'default' or 'insensitive'", here)
        elif op == "not" and _is_condition(operand):
            if depth + 1 > MAX_DEPTH:
                raise FilterError("the filter is nested too deeply", here)
            if "mode" in operand:
                raise FilterError("mode goes beside `not`, not inside it (it applies to both)", here)
            _validate_condition(operand, here, depth + 1, budget)
        elif op in ("in", "notIn"):
            if not isinstance(operand, list):
                raise FilterError(f"{op} takes a list", here)
            budget[0] -= len(operand)
            if budget[0] < 0:
                raise FilterError(f"the filter has more than {MAX_NODES} values", here)
            for i, item in enumerate(operand):
                _validate_value(item, f"{here}[{i}]")
        elif op in ("contains", "startsWith", "endsWith"):
            if not isinstance(operand, str):
                raise FilterError(f"{op} takes a string", here)
        elif op in COMPARISONS:
            _validate_value(operand, here)
        else:
            raise FilterError(f"unknown operator `{op}`; use one of {', '.join(COMPARISONS)}, mode", here)


def _validate_value(value: Any, path: str) -> None:
    if value is None or isinstance(value, str | int | float | bool):
        return
    if _is_tagged(value) and isinstance(value["$type"], str):
        return
    raise FilterError("a value is a string, number, boolean, null or {$type, value}", path)


# --- evaluation ---------------------------------------------------------------------------------
#
# Conditions are evaluated as SQL evaluates a query's WHERE: with NULLs, three-valued (True, False,
# None for SQL's unknown), and an event matches only when the whole filter is True. A field the record
# does not carry could hold any value, so its conditions yield every truth value; results are sets of
# the values the filter could take, and an event is delivered when True is among them.

T: frozenset[Any] = frozenset({True})
F: frozenset[Any] = frozenset({False})
N: frozenset[Any] = frozenset({None})
ANY: frozenset[Any] = frozenset({True, False, None})


def _and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or3(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _not3(a: bool | None) -> bool | None:
    return None if a is None else not a


def _and(sets: Any) -> frozenset[Any]:
    result = T
    for found in sets:
        result = frozenset(_and3(a, b) for a in result for b in found)
        if result == F:
            return F
    return result


def _or(sets: Any) -> frozenset[Any]:
    result = F
    for found in sets:
        result = frozenset(_or3(a, b) for a in result for b in found)
        if result == T:
            return T
    return result


def _not(found: frozenset[Any]) -> frozenset[Any]:
    return frozenset(_not3(a) for a in found)


def _one(verdict: bool | None) -> frozenset[Any]:
    return T if verdict is True else F if verdict is False else N


def matches(where: dict[str, Any] | None, record: dict[str, Any] | None) -> Verdict:
    """True (matches), False (cannot match), None (may match: the record lacks a field it names).
    Deliver an event unless this is False."""
    if not where:
        return True
    found = _filter(where, record or {}, record is None)
    if True not in found:
        return False
    return True if found == T else None


def _filter(where: dict[str, Any], record: dict[str, Any], unknown: bool) -> frozenset[Any]:
    return _and(_node(name, spec, record, unknown) for name, spec in where.items())


def _node(name: str, spec: Any, record: dict[str, Any], unknown: bool) -> frozenset[Any]:
    if name == "AND":
        return _and(_filter(item, record, unknown) for item in (spec if isinstance(spec, list) else [spec]))
    if name == "OR":
        return _or(_filter(item, record, unknown) for item in spec)
    if name == "NOT":
        # Prisma's NOT: every listed filter must be false (NOT a AND NOT b).
        return _and(
            _not(_filter(item, record, unknown)) for item in (spec if isinstance(spec, list) else [spec])
        )
    if unknown or name not in record:
        return ANY
    value = record[name]
    if not _is_condition(spec):
        return _one(_equals_or_null(value, spec))
    return _condition(value, spec)


def _condition(value: Any, spec: dict[str, Any]) -> frozenset[Any]:
    insensitive = spec.get("mode") == "insensitive"
    parts: list[frozenset[Any]] = []
    for op, operand in spec.items():
        if op == "mode":
            continue
        if op == "equals":
            parts.append(_one(_equals_or_null(value, operand, insensitive)))
        elif op == "not":
            if _is_condition(operand):
                inner = {k: v for k, v in operand.items() if k != "mode"}
                parts.append(_not(_condition(value, {**inner, **_mode(spec)})))
            elif operand is None:
                parts.append(_one(value is not None))  # IS NOT NULL
            else:
                parts.append(_one(_not3(_compare(value, operand, "equals", insensitive))))
        elif op in ("in", "notIn"):
            verdict = _or3_all(_compare(value, item, "equals", insensitive) for item in operand)
            parts.append(_one(verdict if op == "in" else _not3(verdict)))
        else:
            parts.append(_one(_compare(value, operand, op, insensitive)))
    return _and(parts)


def _or3_all(verdicts: Any) -> bool | None:
    result: bool | None = False
    for verdict in verdicts:
        result = _or3(result, verdict)
    return result


def _mode(spec: dict[str, Any]) -> dict[str, Any]:
    return {"mode": spec["mode"]} if "mode" in spec else {}


def _equals_or_null(value: Any, operand: Any, insensitive: bool = False) -> bool | None:
    if operand is None:
        return value is None  # `field: null` is IS NULL
    return _compare(value, operand, "equals", insensitive)


# --- values -------------------------------------------------------------------------------------


def _plain(value: Any) -> tuple[str, Any]:
    """A record value as (kind, comparable Python value)."""
    if _is_tagged(value):
        kind, raw = value["$type"], value["value"]
        if kind == "BigInt":
            return "number", int(raw)
        if kind == "Decimal":
            return "decimal", decimal.Decimal(str(raw))
        if kind == "DateTime":
            return "datetime", _datetime(raw)
        if kind == "Json":
            return "json", _canonical_json(raw)
        return "text", str(raw)
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, int | float):
        return "number", value
    if isinstance(value, str):
        return "text", value
    return "json", json.dumps(value, sort_keys=True, separators=(",", ":"))


def _coerce(kind: str, operand: Any) -> Any:
    """The filter's operand in the record value's kind; ValueError when it cannot be."""
    if _is_tagged(operand):
        operand = operand["value"]
    if kind == "number":
        if isinstance(operand, bool):
            raise ValueError("a boolean is not a number")
        return (
            operand
            if isinstance(operand, int | float)
            else float(operand)
            if "." in str(operand)
            else int(operand)
        )
    if kind == "decimal":
        if isinstance(operand, bool):
            raise ValueError("a boolean is not a number")
        return decimal.Decimal(str(operand))
    if kind == "datetime":
        return _datetime(operand)
    if kind == "json":
        return _canonical_json(operand if isinstance(operand, str) else json.dumps(operand))
    if kind == "bool":
        if not isinstance(operand, bool):
            raise ValueError("not a boolean")
        return operand
    return operand if isinstance(operand, str) else json.dumps(operand)


def _datetime(raw: Any) -> dt.datetime:
    if not isinstance(raw, str):
        raise ValueError("a DateTime is an ISO-8601 string")
    parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _canonical_json(raw: Any) -> str:
    return json.dumps(json.loads(raw) if isinstance(raw, str) else raw, sort_keys=True, separators=(",", ":"))


def _pair(value: Any, operand: Any, insensitive: bool) -> tuple[Any, Any] | None:
    kind, left = _plain(value)
    try:
        right = _coerce(kind, operand)
    except (ValueError, TypeError, decimal.InvalidOperation):
        return None
    if kind == "number" and isinstance(left, int) and isinstance(right, float):
        left = float(left)
    if insensitive and isinstance(left, str) and isinstance(right, str):
        return left.casefold(), right.casefold()
    return left, right


def _compare(value: Any, operand: Any, op: str, insensitive: bool) -> bool | None:
    """One SQL comparison: unknown (None) when the record's value is NULL."""
    if value is None or operand is None:
        return None
    if op in ("contains", "startsWith", "endsWith"):
        if not isinstance(value, str) or not isinstance(operand, str):
            return False
        left, right = (value.casefold(), operand.casefold()) if insensitive else (value, operand)
        if op == "contains":
            return right in left
        return left.startswith(right) if op == "startsWith" else left.endswith(right)
    pair = _pair(value, operand, insensitive)
    if pair is None:
        return False  # not comparable (a filter value of another type): never a match
    left, right = pair
    try:
        if op == "equals":
            return bool(left == right)
        if op == "lt":
            return bool(left < right)
        if op == "lte":
            return bool(left <= right)
        if op == "gt":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False

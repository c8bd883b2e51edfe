"""Filters on event records, with the operators of a query's `where`, evaluated in memory at the edge.

`{"email": {"endsWith": "@x.io"}, "OR": [{"age": {"gte": 18}}, {"NOT": {"role": "guest"}}]}`

Records carry values encoded like query results (`{"$type": "DateTime", "value": …}` and friends);
a filter may give a value plainly or tagged, and is compared in the record value's own type.

An old image may be partial (only the key, without REPLICA IDENTITY FULL). A condition on a field the
record does not carry is *unknown*, and logic is three-valued (SQL's, with unknown kept apart from
false): an event is delivered unless its filter is definitely false, so a partial image never hides
an event that might have matched.
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

Verdict = bool | None  # None: unknown (the record lacks a field the filter names)


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


def matches(where: dict[str, Any] | None, record: dict[str, Any] | None) -> Verdict:
    """True, False, or None (unknown). Deliver an event unless this is False."""
    if not where:
        return True
    if record is None:
        return None
    return _all(_node(name, spec, record) for name, spec in where.items())


def _all(verdicts: Any) -> Verdict:
    unknown = False
    for verdict in verdicts:
        if verdict is False:
            return False
        if verdict is None:
            unknown = True
    return None if unknown else True


def _any(verdicts: Any) -> Verdict:
    unknown = False
    for verdict in verdicts:
        if verdict is True:
            return True
        if verdict is None:
            unknown = True
    return None if unknown else False


def _negate(verdict: Verdict) -> Verdict:
    return None if verdict is None else not verdict


def _node(name: str, spec: Any, record: dict[str, Any]) -> Verdict:
    if name == "AND":
        return _all(matches(item, record) for item in (spec if isinstance(spec, list) else [spec]))
    if name == "OR":
        return _any(matches(item, record) for item in spec)
    if name == "NOT":
        # Prisma's NOT over a list negates each and requires all: NOT a AND NOT b.
        return _all(_negate(matches(item, record)) for item in (spec if isinstance(spec, list) else [spec]))
    if name not in record:
        return None
    value = record[name]
    if not _is_condition(spec):
        return _equals(value, spec)
    return _condition(value, spec)


def _condition(value: Any, spec: dict[str, Any]) -> Verdict:
    insensitive = spec.get("mode") == "insensitive"
    verdicts: list[Verdict] = []
    for op, operand in spec.items():
        if op == "mode":
            continue
        if op == "equals":
            verdicts.append(_equals(value, operand, insensitive))
        elif op == "not":
            if _is_condition(operand):
                verdicts.append(_negate_sql(value, _condition(value, {**operand, **_mode(spec)})))
            else:
                verdicts.append(
                    value is not None if operand is None else _not_equals(value, operand, insensitive)
                )
        elif op == "in":
            verdicts.append(value is not None and any(_equals(value, item, insensitive) for item in operand))
        elif op == "notIn":
            verdicts.append(
                value is not None and not any(_equals(value, item, insensitive) for item in operand)
            )
        elif op in ("lt", "lte", "gt", "gte"):
            verdicts.append(_order(value, operand, op, insensitive))
        else:
            verdicts.append(_text(value, operand, op, insensitive))
    return _all(verdicts)


def _mode(spec: dict[str, Any]) -> dict[str, Any]:
    return {"mode": spec["mode"]} if "mode" in spec else {}


def _negate_sql(value: Any, verdict: Verdict) -> Verdict:
    # As in SQL, NOT (x > 5) is not true for a NULL x.
    if value is None:
        return False
    return _negate(verdict)


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


def _equals(value: Any, operand: Any, insensitive: bool = False) -> bool:
    if value is None or operand is None:
        return value is None and operand is None
    pair = _pair(value, operand, insensitive)
    return pair is not None and pair[0] == pair[1]


def _not_equals(value: Any, operand: Any, insensitive: bool) -> bool:
    if value is None:
        return False  # SQL: NULL <> x is not true
    return not _equals(value, operand, insensitive)


def _order(value: Any, operand: Any, op: str, insensitive: bool) -> bool:
    if value is None or operand is None:
        return False
    pair = _pair(value, operand, insensitive)
    if pair is None:
        return False
    left, right = pair
    try:
        if op == "lt":
            return bool(left < right)
        if op == "lte":
            return bool(left <= right)
        if op == "gt":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


def _text(value: Any, operand: str, op: str, insensitive: bool) -> bool:
    if not isinstance(value, str):
        return False
    left, right = (value.casefold(), operand.casefold()) if insensitive else (value, operand)
    if op == "contains":
        return right in left
    if op == "startsWith":
        return left.startswith(right)
    return left.endswith(right)

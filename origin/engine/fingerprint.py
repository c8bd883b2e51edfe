"""A query's shape: the query with its values taken out, so a repeated shape reuses its compiled SQL.

`fingerprint(body)` walks a JSON-protocol query once and returns a hashable key and the values
("leaves") in walk order. On a cache miss, `skeleton(body)` gives the same tree with every leaf
replaced by a `Slot`, which is what the planner works on: it never sees a value, only where values
go, so the compiled result is valid for every query with the same key.

What stays in the key (the planner may branch on it): booleans, nulls, empty lists, `$type` tags,
every leaf under `orderBy` (but the `search` text of `_relevance`), `distinct`, `by`, `mode` and
`selection` (except nested `arguments`), the sign of `take`, and a `take` or `skip` of 0. Everything else
that is a scalar, or a list of scalars, is a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import QueryValidationError

# How deep a query's arguments and selection may nest. Real clients stay far below (an `include`
# level costs two, a relation filter two); every later stage recurses over this tree, so it is
# bounded here, on the first walk every query takes.
MAX_QUERY_DEPTH = 100

# Under these keys every leaf is structure: the planner needs the literal.
_STRUCTURAL = frozenset({"orderBy", "distinct", "by", "mode", "nulls", "sort", "skipDuplicates"})
# Tags whose value is structure, not data: field references and the Json null markers.
_STRUCTURAL_TAGS = frozenset({"FieldRef", "Enum"})


@dataclass(frozen=True)
class Slot:
    """Where the `index`-th leaf goes; `kind` is its JSON type (s, i, f, l, or a `$type` tag)."""

    index: int
    kind: str


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "s"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    return "l"


def _is_leaf_list(value: list[Any]) -> bool:
    return bool(value) and not any(isinstance(v, dict | list) for v in value)


def fingerprint(body: Any) -> tuple[str, list[Any]]:
    """(shape key, leaf values in walk order)."""
    leaves: list[Any] = []
    parts: list[str] = []
    _walk(body, leaves, parts, False, MAX_QUERY_DEPTH)
    return "".join(parts), leaves


_LEAF = {str: "<s>", int: "<i>", float: "<f>"}
_RESETS = frozenset({*_STRUCTURAL, "selection"})


def _too_deep() -> QueryValidationError:
    return QueryValidationError(
        f"The query nests more than {MAX_QUERY_DEPTH} levels deep.",
        meta={"argumentPath": "query", "limit": MAX_QUERY_DEPTH},
    )


def _walk(node: Any, leaves: list[Any], out: list[str], structural: bool, room: int) -> None:
    # The hot path of every query: plain loops and local lookups, no helper calls per node.
    kind = type(node)
    if (kind is dict or kind is list) and room <= 0:
        raise _too_deep()
    if kind is dict:
        if len(node) == 2 and "$type" in node and "value" in node:
            tag = node["$type"]
            if structural or not isinstance(tag, str) or tag in _STRUCTURAL_TAGS:
                out.append(repr(node))
            else:
                leaves.append(node["value"])
                out.append(f"<{tag}>")
            return
        out.append("{")
        for key, value in node.items():
            out.append(repr(key))
            if key in ("take", "skip") and type(value) is int and value == 0 and not structural:
                out.append("0,")  # none or nothing skipped: a shape of its own (see _skeleton)
                continue
            if key == "take" and type(value) is int and not structural:
                out.append("-<i>," if value < 0 else "+<i>,")
                leaves.append(value)
                continue
            if key == "arguments":
                _walk(value, leaves, out, False, room - 1)
            elif key == "_relevance" and type(value) is dict:
                _walk_relevance(value, leaves, out, room - 1)
            else:
                _walk(value, leaves, out, structural or key in _RESETS, room - 1)
            out.append(",")
        out.append("}")
        return
    if kind is list:
        if not structural and _is_leaf_list(node):
            leaves.append(node)
            out.append("<l>")
            return
        out.append("[")
        for item in node:
            _walk(item, leaves, out, structural, room - 1)
            out.append(",")
        out.append("]")
        return
    leaf = _LEAF.get(kind)
    if structural or leaf is None:
        out.append(repr(node))
        return
    leaves.append(node)
    out.append(leaf)


def _walk_relevance(spec: dict[str, Any], leaves: list[Any], out: list[str], room: int) -> None:
    """`orderBy: {_relevance: {fields, search, sort}}`: the search text is a value, the rest structure."""
    out.append("{")
    for key, value in spec.items():
        out.append(repr(key))
        _walk(value, leaves, out, key != "search", room - 1)
        out.append(",")
    out.append("}")


def _literal(value: Any) -> str:
    # repr keeps "1" and 1 apart and quotes keys unambiguously.
    return repr(value)


def skeleton(body: Any) -> Any:
    """The query with each leaf replaced by its Slot, in the order `fingerprint` lists the leaves."""
    counter = [0]
    return _skeleton(body, counter, False)


def _next(counter: list[int], kind: str) -> Slot:
    slot = Slot(counter[0], kind)
    counter[0] += 1
    return slot


def _skeleton(node: Any, counter: list[int], structural: bool) -> Any:
    if isinstance(node, dict):
        if len(node) == 2 and "$type" in node and "value" in node:
            tag = node["$type"]
            if structural or not isinstance(tag, str) or tag in _STRUCTURAL_TAGS:
                return node
            return {"$type": tag, "value": _next(counter, tag)}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("take", "skip") and type(value) is int and value == 0 and not structural:
                # Kept: `take: 0` asks for nothing (Prisma's engine sends no SQL), and `skip: 0`
                # alone does not order the rows as a page would.
                out[key] = 0
            elif key == "take" and isinstance(value, int) and not isinstance(value, bool) and not structural:
                out[key] = (value < 0, _next(counter, "i"))
            elif key == "arguments":
                out[key] = _skeleton(value, counter, False)
            elif key == "_relevance" and isinstance(value, dict):
                out[key] = {k: _skeleton(v, counter, k != "search") for k, v in value.items()}
            else:
                out[key] = _skeleton(value, counter, structural or key in _STRUCTURAL or key == "selection")
        return out
    if isinstance(node, list):
        if not structural and _is_leaf_list(node):
            return _next(counter, "l")
        return [_skeleton(item, counter, structural) for item in node]
    if structural or node is None or isinstance(node, bool):
        return node
    return _next(counter, _kind(node))

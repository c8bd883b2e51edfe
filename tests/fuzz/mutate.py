"""Structure-aware mutations of recorded requests, as Hypothesis strategies.

A fuzzed request starts from a real one (tests/protocol/captures: what Prisma 6 and 7 clients sent)
and changes a few of its parts: a value replaced by a hostile one or by a part of another recorded
request, a key renamed or dropped, a subtree nested hundreds of levels deep, a list grown past the
batch cap, a tag (`$type`, `prisma__type`) forged. Then, sometimes, the JSON text itself is broken
(truncated, `NaN`, a 5,000-digit number, invalid UTF-8). Whatever comes out, the stack must answer
with a status below 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "\ud800",  # a lone surrogate (json.dumps escapes it as \\ud800)
    "\udfff x",
    "😀",
    "a" * 70_000,
    '\'; DROP TABLE "User"; --',
    "$1",
    "%",
    "\\",
    "NaN",
    "Infinity",
    "-0",
    "1e999",
    "99999999999999999999999999",
    "2024-13-45T99:99:99Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "not base64!",
    "o1~",
    "../../etc/passwd",
    "User",
    "Post",
    "id",
    "_count",
    "$scalars",
    "asc",
]
NASTY_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    2**31,
    2**31 - 1,
    2**53 + 1,
    2**63,
    2**63 - 1,
    -(2**63) - 1,
    2**64,
    10**40,
    -(10**40),
    0.5,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    True,
    False,
    None,
]
TAGS = ["DateTime", "BigInt", "Decimal", "Bytes", "Json", "FieldRef", "Enum", "Param", "Raw", "Nope"]
PRISMA_TYPES = ["param", "generatorCall", "bigint", "date", "decimal", "bytes", "json", "nope"]
# Around every cap (queries 100, plans 100 nodes, JSON 256); deeper ones are made in the text
# (`as_text`), since building them as values would take Python's own recursion past its limit.
DEPTHS = [2, 49, 98, 99, 100, 101, 127, 128, 129, 255, 256, 257]
TEXT_DEPTHS = [257, 300, 1000, 100_000]
KEY_WORDS = [
    "modelName",
    "action",
    "query",
    "arguments",
    "selection",
    "where",
    "data",
    "take",
    "skip",
    "cursor",
    "distinct",
    "orderBy",
    "by",
    "having",
    "include",
    "select",
    "AND",
    "OR",
    "NOT",
    "some",
    "every",
    "none",
    "is",
    "in",
    "notIn",
    "equals",
    "contains",
    "mode",
    "gt",
    "lt",
    "set",
    "increment",
    "connect",
    "create",
    "createMany",
    "upsert",
    "_count",
    "_sum",
    "$scalars",
    "$composites",
    "batch",
    "transaction",
    "isolationLevel",
    "parameters",
    "type",
    "args",
    "plan",
    "params",
    "operation",
    "model",
    "expr",
    "bindings",
    "fragments",
    "chunk",
    "structure",
    "fields",
    "prisma__type",
    "prisma__value",
    "$type",
    "value",
    "timeout",
    "maxWait",
    "max_wait",
    "isolation_level",
]


def nasty_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(NASTY_STRINGS),
        st.sampled_from(NASTY_NUMBERS),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    )


def json_values() -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(KEY_WORDS), st.text(max_size=6))
    return st.recursive(
        nasty_scalars(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=10,
    )


def walk(value: Any) -> Iterator[Path]:
    """Every path in `value`, the root's included (no recursion: values nest hundreds deep here)."""
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        yield path
        if isinstance(node, dict):
            stack.extend(((*path, key), child) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, index), child) for index, child in enumerate(node))


def subtrees(values: list[Any]) -> list[Any]:
    """Every part of every value: material to splice into another request."""
    return [at(value, path) for value in values for path in walk(value)]


def at(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def _rebuilt(value: Any, path: Path, change: Any) -> Any:
    """`value` with `change(parent_copy, last_step)` applied at the end of `path`; only the
    containers on the path are copied (values are shared, never changed in place)."""
    if len(path) == 1:
        parent = dict(value) if isinstance(value, dict) else list(value)
        change(parent, path[0])
        return parent
    parent = dict(value) if isinstance(value, dict) else list(value)
    parent[path[0]] = _rebuilt(value[path[0]], path[1:], change)
    return parent


def replaced(value: Any, path: Path, new: Any) -> Any:
    if not path:
        return new

    def put(parent: Any, step: Any) -> None:
        parent[step] = new

    return _rebuilt(value, path, put)


def removed(value: Any, path: Path) -> Any:
    if not path:
        return None

    def drop(parent: Any, step: Any) -> None:
        del parent[step]

    return _rebuilt(value, path, drop)


def renamed(value: Any, path: Path, name: str) -> Any:
    if not path or not isinstance(path[-1], str):
        return value

    def rename(parent: Any, step: Any) -> None:
        parent[name] = parent.pop(step)

    return _rebuilt(value, path, rename)


def nested(node: Any, depth: int, key: str | None) -> Any:
    for _ in range(depth):
        node = [node] if key is None else {key: node}
    return node


OPERATIONS = ("scalar", "json", "delete", "donor", "nest", "rename", "tag", "repeat", "retype")


@st.composite
def mutated(draw: st.DrawFn, value: Any, donors: list[Any]) -> Any:
    """`value` with one to four of its parts changed."""
    current = value
    nested_once = False
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = list(walk(current))
        leaves = [p for p in paths if not isinstance(at(current, p), dict | list)]
        # Half the time a value only: the request keeps its shape and reaches the SQL it makes.
        path = draw(st.sampled_from(leaves if leaves and draw(st.booleans()) else paths))
        node = at(current, path)
        operation = draw(st.sampled_from(OPERATIONS))
        if operation == "nest" and nested_once:
            operation = "scalar"  # one deep nesting per request keeps json.dumps within its recursion
        if operation == "scalar":
            current = replaced(current, path, draw(nasty_scalars()))
        elif operation == "json":
            current = replaced(current, path, draw(json_values()))
        elif operation == "delete":
            current = removed(current, path)
        elif operation == "donor" and donors:
            current = replaced(current, path, draw(st.sampled_from(donors)))
        elif operation == "nest":
            depth = draw(st.sampled_from(DEPTHS))
            key = draw(st.sampled_from([None, "AND", "NOT", "OR", "args", "expr", "select", "x"]))
            current = replaced(current, path, nested(node, depth, key))
            nested_once = True
        elif operation == "rename":
            current = renamed(current, path, draw(st.sampled_from(KEY_WORDS) | st.text(max_size=6)))
        elif operation == "tag":
            inner = draw(nasty_scalars())
            tagged = draw(
                st.sampled_from(
                    [
                        {"$type": draw(st.sampled_from(TAGS)), "value": inner},
                        {"prisma__type": draw(st.sampled_from(PRISMA_TYPES)), "prisma__value": inner},
                    ]
                )
            )
            current = replaced(current, path, tagged)
        elif operation == "repeat":
            size = len(json.dumps(node))
            counts = [0, 1, 2, 100] + ([5001] if size < 300 else [])
            count = draw(st.sampled_from(counts))
            items = node if isinstance(node, list) and node else [node]
            current = replaced(current, path, [items[i % len(items)] for i in range(count)])
        elif operation == "retype":
            if isinstance(node, str):
                current = replaced(current, path, [node] if draw(st.booleans()) else {node: node})
            elif isinstance(node, bool | int | float) or node is None:
                current = replaced(current, path, json.dumps(node))
            elif isinstance(node, dict):
                current = replaced(current, path, list(node.values()))
            elif isinstance(node, list):
                current = replaced(current, path, {str(i): v for i, v in enumerate(node)})
    return current


# Breaks first: Hypothesis draws the first choices of a list more often, and a request whose text
# parses still reaches every later stage through the mutations before it.
TEXT_BREAKS = (
    "wrap",
    "constant",
    "digits",
    "utf8",
    "truncate",
    "bom",
    "empty",
    "none",
    "none",
    "none",
    "none",
)


@st.composite
def as_text(draw: st.DrawFn, value: Any) -> bytes:
    """`value` as JSON text, now and then broken in one of the ways a parser must survive."""
    text = json.dumps(value).encode()
    brk = draw(st.sampled_from(TEXT_BREAKS))
    if brk == "truncate" and text:
        return text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]
    if brk == "constant" or brk == "digits":
        spots = [i for i in range(len(text)) if text[i : i + 1] in (b":", b",", b"[")]
        if spots:
            spot = draw(st.sampled_from(spots)) + 1
            token = (
                draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"]))
                if brk == "constant"
                else b"9" * draw(st.sampled_from([19, 20, 309, 4301, 5000]))
            )
            return text[:spot] + token + b"," + text[spot:]
    if brk == "utf8":
        spot = draw(st.integers(min_value=0, max_value=len(text)))
        return text[:spot] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + text[spot:]
    if brk == "bom":
        return b"\xef\xbb\xbf" + text
    if brk == "wrap":
        depth = draw(st.sampled_from(TEXT_DEPTHS))
        return b"[" * depth + text + b"]" * depth
    if brk == "empty":
        return b""
    return text

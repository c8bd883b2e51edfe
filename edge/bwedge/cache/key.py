"""Canonical query encoding and the SHA-256 cache key.

The encoding is injective over JSON values and typed: `1`, `1.0`, `true` and `"1"` all differ,
so two queries that differ in any value never share a key. Object keys are sorted (argument order
does not matter) except where order carries meaning: inside `orderBy`, `{a: "asc", b: "desc"}`
sorts by a then b, so those objects keep their order. Plans (Prisma 7) keep every object's order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

# Keys whose subtree keeps object key order (see module docstring).
_ORDERED_SUBTREES = frozenset({"orderBy"})


def canonical(value: Any, ordered: bool = False) -> str:
    """A string that is equal for two JSON values exactly when they are equal (modulo key order)."""
    out: list[str] = []
    # An explicit stack rather than recursion: bodies nest as deep as json.loads allowed.
    stack: list[tuple[Any, bool] | str] = [(value, ordered)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)  # a closing bracket
            continue
        node, keep = item
        if node is None:
            out.append("n")
        elif node is True:
            out.append("T")
        elif node is False:
            out.append("F")
        elif isinstance(node, int):
            out.append(f"i{node};")
        elif isinstance(node, float):
            out.append(f"d{node!r};")
        elif isinstance(node, str):
            out.append(f"s{len(node)}:{node}")
        elif isinstance(node, list):
            out.append("[")
            stack.append("]")
            stack.extend((child, keep) for child in reversed(node))
        elif isinstance(node, dict):
            names = list(node) if keep else sorted(node)
            out.append("(" if keep else "{")
            stack.append(")" if keep else "}")
            for name in reversed(names):
                stack.append((node[name], keep or name in _ORDERED_SUBTREES))
                stack.append(f"s{len(name)}:{name}")
        else:
            raise TypeError(f"not a JSON value: {type(node).__name__}")
    return "".join(out)


def fingerprint(value: Any, raw: bytes, ordered: bool = False) -> str:
    """`canonical`'s job, faster where it can be: the C JSON encoder when no `orderBy` is present
    (or for plans, where every object keeps its order). Each form has its own prefix, so the forms
    never collide; the same value sent two ways at worst takes two entries, never shares one."""
    try:
        if ordered:
            return "o" + json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        # `\u` escapes could spell "orderBy" without these bytes: those bodies take the slow path.
        if b'"orderBy"' not in raw and b"\\u" not in raw:
            return "s" + json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    except (RecursionError, ValueError):
        pass  # nested deeper than the C encoder goes
    return "c" + canonical(value, ordered)


def digest(parts: Iterable[str]) -> str:
    """SHA-256 over length-prefixed parts, so no two part lists hash the same input."""
    encoded = [part.encode("utf-8", "surrogatepass") for part in parts]
    return hashlib.sha256(b"".join(b"%d:%s" % (len(data), data) for data in encoded)).hexdigest()


def cache_key(database_id: str, material: str, epoch: int, versions: Iterable[tuple[str, int]]) -> str:
    """The key of one query of one database under the current versions of its tags.

    `material` is the query's identity from `classify`; `versions` the (tag, version) pairs folded
    in, so bumping any of them makes the old entry unreachable.
    """
    folded = ",".join(f"{tag}={version}" for tag, version in sorted(versions))
    return digest(("bwc1", database_id, str(epoch), folded, material))

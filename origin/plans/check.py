"""Before running a plan: make sure this server knows every node in it (the plan format changes between
Prisma minor versions; an unknown node must be a clear error, never a wrong answer), and find the
tables its SQL reads and writes (for the `x-breakwater-models-*` headers the edge cache uses).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import PlanError, PlanTooDeep, UnsupportedPlan
from .generators import KNOWN as KNOWN_GENERATORS

# How deep plan nodes may nest: the interpreter recurses once per level. Prisma 7.10's plans take
# about four levels per level of `include` or nested write (let, let, join, query).
MAX_PLAN_DEPTH = 100

# The Prisma Client versions whose plans the test suite runs (tests/prisma7). `Prisma-Engine-Hash`
# carries the client version in 7.x.
TESTED_CLIENT_VERSIONS = ("7.10.1",)

NODE_TYPES = frozenset(
    {
        "value",
        "seq",
        "get",
        "let",
        "getFirstNonEmpty",
        "concat",
        "sum",
        "reverse",
        "unique",
        "required",
        "join",
        "mapField",
        "dataMap",
        "validate",
        "if",
        "unit",
        "diff",
        "transaction",
        "process",
        "initializeRecord",
        "mapRecord",
        "query",
        "execute",
    }
)
_FRAGMENTS = frozenset({"stringChunk", "parameter", "parameterTuple", "parameterTupleList"})
_RULES = frozenset({"rowCountEq", "rowCountNeq", "affectedRowCountEq", "never"})
_STRUCTURES = frozenset({"object", "field", "affectedRows"})
_FIELD_OPS = frozenset({"set", "add", "subtract", "multiply", "divide"})
_INITIALIZERS = frozenset({"value", "lastInsertId"})
_ERRORS = frozenset(
    {
        "MISSING_RECORD",
        "MISSING_RELATED_RECORD",
        "INCOMPLETE_CONNECT_INPUT",
        "INCOMPLETE_CONNECT_OUTPUT",
        "RELATION_VIOLATION",
        "RECORDS_NOT_CONNECTED",
    }
)


@dataclass
class PlanFacts:
    tables_read: set[str] = field(default_factory=set)
    tables_written: set[str] = field(default_factory=set)
    statements: int = 0


def _unknown(what: str, name: Any, client_version: str | None) -> UnsupportedPlan:
    tested = ", ".join(TESTED_CLIENT_VERSIONS)
    client = f"Prisma Client {client_version}" if client_version else "This Prisma Client"
    return UnsupportedPlan(
        f"{client} sent a query plan with the {what} `{name}`, which this server does not know. "
        f"Breakwater runs the plans of Prisma Client {tested}.",
        meta={"unknown": {"kind": what, "name": name}, "clientVersion": client_version, "supported": tested},
        hint=f"Use a tested Prisma Client version ({tested}) or upgrade Breakwater.",
    )


def children(node: dict[str, Any]) -> Iterator[Any]:
    """The child nodes of a plan node, for any walk over a plan."""
    kind = node.get("type")
    args: Any = node.get("args")
    if kind in ("seq", "concat", "sum"):
        yield from args or ()
    elif kind in ("reverse", "unique", "required", "transaction"):
        yield args
    elif kind == "let":
        for binding in args["bindings"]:
            yield binding["expr"]
        yield args["expr"]
    elif kind == "join":
        yield args["parent"]
        for child in args["children"]:
            yield child["child"]
    elif kind == "mapField":
        yield args["records"]
    elif kind in ("dataMap", "validate", "process", "initializeRecord", "mapRecord"):
        yield args["expr"]
    elif kind == "if":
        yield args["value"]
        yield args["then"]
        yield args["else"]
    elif kind == "diff":
        yield args["from"]
        yield args["to"]


def check(plan: Any, client_version: str | None) -> PlanFacts:
    """Every node, fragment, rule and generator of `plan` is known; returns what its SQL touches."""
    facts = PlanFacts()
    stack: list[tuple[Any, int]] = [(plan, 1)]
    try:
        while stack:
            node, depth = stack.pop()
            if not isinstance(node, dict) or not isinstance(node.get("type"), str):
                raise PlanError("A query plan node must be an object with a `type`.")
            if depth > MAX_PLAN_DEPTH:
                raise PlanTooDeep(
                    f"The query plan nests more than {MAX_PLAN_DEPTH} nodes deep.",
                    meta={"limit": MAX_PLAN_DEPTH},
                )
            kind = node["type"]
            if kind not in NODE_TYPES:
                raise _unknown("node", kind, client_version)
            _check_node(node, client_version, facts)
            stack.extend((child, depth + 1) for child in children(node))
    except (KeyError, TypeError, AttributeError) as exc:
        raise PlanError(f"The query plan is malformed ({type(exc).__name__}: {exc}).") from None
    return facts


def _check_node(node: dict[str, Any], client_version: str | None, facts: PlanFacts) -> None:
    kind = node["type"]
    args: Any = node.get("args")
    if kind in ("query", "execute"):
        _check_sql(args, client_version, facts)
    elif kind == "value":
        _check_value(args, client_version)
    elif kind == "dataMap":
        _check_structure(args["structure"], client_version)
    elif kind == "validate":
        for rule in args["rules"]:
            if rule.get("type") not in _RULES:
                raise _unknown("data rule", rule.get("type"), client_version)
        if args.get("errorIdentifier") not in _ERRORS:
            raise _unknown("validation error", args.get("errorIdentifier"), client_version)
    elif kind == "if":
        if args["rule"].get("type") not in _RULES:
            raise _unknown("data rule", args["rule"].get("type"), client_version)
    elif kind == "mapRecord":
        for op in args["fields"].values():
            if op.get("type") not in _FIELD_OPS:
                raise _unknown("field operation", op.get("type"), client_version)
            _check_value(op.get("value"), client_version)
    elif kind == "initializeRecord":
        for init in args["fields"].values():
            if init.get("type") not in _INITIALIZERS:
                raise _unknown("field initializer", init.get("type"), client_version)


def _check_value(value: Any, client_version: str | None) -> None:
    if isinstance(value, list):
        for item in value:
            _check_value(item, client_version)
    elif isinstance(value, dict):
        marker = value.get("prisma__type")
        if marker == "generatorCall":
            name = value["prisma__value"]["name"]
            if name not in KNOWN_GENERATORS:
                raise _unknown("generator", name, client_version)
            _check_value(value["prisma__value"].get("args"), client_version)
        elif marker not in (None, "param"):
            raise _unknown("value kind", marker, client_version)


def _check_structure(structure: dict[str, Any], client_version: str | None) -> None:
    kind = structure.get("type")
    if kind not in _STRUCTURES:
        raise _unknown("result structure", kind, client_version)
    for child in (structure.get("fields") or {}).values():
        _check_structure(child, client_version)


def _check_sql(args: dict[str, Any], client_version: str | None, facts: PlanFacts) -> None:
    kind = args.get("type")
    if kind == "templateSql":
        for fragment in args["fragments"]:
            if fragment.get("type") not in _FRAGMENTS:
                raise _unknown("SQL fragment", fragment.get("type"), client_version)
        sql = "".join(f["chunk"] for f in args["fragments"] if f["type"] == "stringChunk")
        for arg in args.get("args") or ():
            _check_value(arg, client_version)
    elif kind == "rawSql":
        # The tables of a raw statement are the ones Postgres locks for it (reported after it runs).
        facts.statements += 1
        return
    else:
        raise _unknown("query kind", kind, client_version)
    facts.statements += 1
    read, written = tables_of(sql)
    facts.tables_read |= read
    facts.tables_written |= written


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_TABLE_AFTER = re.compile(
    rf"\b(FROM|JOIN|INTO|UPDATE|TRUNCATE(?:\s+TABLE)?)\s+(?:ONLY\s+)?({_IDENT}(?:\s*\.\s*{_IDENT})?)",
    re.IGNORECASE,
)
_NOT_TABLES = frozenset({"set", "of", "nowait", "skip", "lateral", "select", "only", "table", "values"})


def _unquote(name: str) -> str:
    last = str(re.findall(_IDENT, name)[-1])
    return last[1:-1].replace('""', '"') if last.startswith('"') else last


@functools.lru_cache(maxsize=4096)
def tables_of(sql: str) -> tuple[frozenset[str], frozenset[str]]:
    """Tables a statement reads and writes, by name without schema (`"public"."User"` → `User`)."""
    read: set[str] = set()
    written: set[str] = set()
    text = re.sub(r"'(?:[^']|'')*'", "''", sql)  # literals could contain keywords
    for match in _TABLE_AFTER.finditer(text):
        keyword = match[1].upper()
        name = _unquote(match[2])
        if name.lower() in _NOT_TABLES and not match[2].startswith('"'):
            continue
        if keyword in ("INTO", "UPDATE") or keyword.startswith("TRUNCATE"):
            # `FOR UPDATE` locks rows but writes nothing; `INSERT INTO` / `UPDATE x SET` write.
            before = text[: match.start()].rstrip().upper()
            if keyword == "UPDATE" and (before.endswith("FOR") or before.endswith("DO")):
                continue
            written.add(name)
        elif keyword == "FROM" and text[: match.start()].rstrip().upper().endswith("DELETE"):
            written.add(name)
        else:
            read.add(name)
    return frozenset(read), frozenset(written)

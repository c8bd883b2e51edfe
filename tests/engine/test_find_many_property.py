"""Property: findMany over a seeded table returns exactly what an independent Python evaluation of the
same where / orderBy / take / skip / cursor returns (SQL's three-valued logic, Postgres' null ordering)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from origin.engine import engine
from origin.engine.introspect import introspect
from origin.engine.request import parse
from origin.engine.schema import Schema

WORDS = ["ab", "abc", "b", "ba", "cab", "zz", "a", "bca"]


def seeded_rows() -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = []
    for i in range(1, 41):
        rows.append(
            {
                "id": i,
                "n": rng.choice([None, *range(-3, 6)]),
                "s": rng.choice([None, *WORDS, "AB", "Cab"]),
                "ok": rng.choice([None, True, False]),
            }
        )
    return rows


ROWS = seeded_rows()

ints = st.integers(-4, 6)
words = st.sampled_from([*WORDS, "AB", "q"])


def scalar_filter(field: str) -> st.SearchStrategy[Any]:
    values = ints if field == "n" else words
    ops: list[st.SearchStrategy[Any]] = [
        values,
        st.none(),
        st.builds(lambda v: {"equals": v}, values),
        st.builds(lambda v: {"not": v}, st.one_of(values, st.none())),
        st.builds(lambda v: {"in": v}, st.lists(values, max_size=3)),
        st.builds(lambda v: {"notIn": v}, st.lists(values, max_size=3)),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["lt", "lte", "gt", "gte"]), values),
    ]
    if field == "s":
        ops.append(
            st.builds(
                lambda op, v, mode: {op: v, **({"mode": "insensitive"} if mode else {})},
                st.sampled_from(["contains", "startsWith", "endsWith"]),
                st.sampled_from(["a", "b", "AB", "c"]),
                st.booleans(),
            )
        )
    return st.one_of(ops)


leaf = st.one_of(
    st.builds(lambda f: {"n": f}, scalar_filter("n")),
    st.builds(lambda f: {"s": f}, scalar_filter("s")),
    st.builds(lambda v: {"ok": v}, st.one_of(st.booleans(), st.none())),
)
where = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"AND": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda xs: {"OR": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda x: {"NOT": x}, inner),
        st.builds(lambda a, b: {**a, **b}, inner, inner),
    ),
    max_leaves=6,
)
order_term = st.builds(
    lambda field, sort, nulls: {field: {"sort": sort, **({"nulls": nulls} if nulls else {})}},
    st.sampled_from(["n", "s", "ok"]),
    st.sampled_from(["asc", "desc"]),
    st.sampled_from([None, "first", "last"]),
)


# --- the independent evaluation ---------------------------------------------------------------------


def _and(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _or(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _scalar(value: Any, spec: Any) -> bool | None:
    if spec is None:
        return value is None
    if not isinstance(spec, dict):
        spec = {"equals": spec}
    insensitive = spec.get("mode") == "insensitive"
    results = []
    for op, operand in spec.items():
        if op == "mode":
            continue
        if op == "equals":
            results.append(
                value is None if operand is None else (None if value is None else value == operand)
            )
        elif op == "not":
            results.append(
                value is not None if operand is None else (None if value is None else value != operand)
            )
        elif op == "in":
            results.append(False if not operand else (None if value is None else value in operand))
        elif op == "notIn":
            results.append(True if not operand else (None if value is None else value not in operand))
        elif value is None:
            results.append(None)
        elif op in ("lt", "lte", "gt", "gte"):
            results.append(
                {
                    "lt": value < operand,
                    "lte": value <= operand,
                    "gt": value > operand,
                    "gte": value >= operand,
                }[op]
            )
        else:
            text, needle = (value.lower(), operand.lower()) if insensitive else (value, operand)
            results.append(
                needle in text
                if op == "contains"
                else text.startswith(needle)
                if op == "startsWith"
                else text.endswith(needle)
            )
    return _and(results)


def _items(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


def _empty(w: dict[str, Any]) -> bool:
    """A condition that tests nothing: Prisma leaves it out of AND / OR / NOT lists."""
    return all(_key_empty(key, value) for key, value in w.items())


def _key_empty(key: str, value: Any) -> bool:
    if key in ("AND", "OR", "NOT"):
        return all(_empty(x) for x in _items(value))
    return isinstance(value, dict) and not set(value) - {"mode"}


def evaluate(row: dict[str, Any], w: dict[str, Any], inside: bool = False) -> bool | None:
    """`w` for `row`; `inside` an AND / OR / NOT list, where empty conditions are left out (so an
    `OR: []` there is dropped, while at the top it matches nothing)."""
    parts: list[bool | None] = []
    for key, value in w.items():
        if inside and _key_empty(key, value):
            continue
        kept = [x for x in _items(value) if not _empty(x)] if key in ("AND", "OR", "NOT") else []
        if key == "AND":
            parts.append(_and([evaluate(row, x, True) for x in kept]))
        elif key == "OR":
            parts.append(_or([evaluate(row, x, True) for x in kept]))
        elif key == "NOT":
            parts.append(_and([_not(evaluate(row, x, True)) for x in kept]))
        else:
            parts.append(_scalar(row[key], value))
    return _and(parts)


def order_key(order: list[dict[str, Any]]) -> Any:
    def key(row: dict[str, Any]) -> Any:
        parts = []
        for term in order:
            ((field, spec),) = term.items()
            desc = spec["sort"] == "desc"
            nulls = spec.get("nulls") or ("first" if desc else "last")
            value = row[field]
            null_rank = 0 if (value is None) == (nulls == "first") else 1
            if value is None:
                parts.append((null_rank, 0))
            else:
                parts.append((null_rank, _Reversed(value) if desc else value))
        return parts

    return key


class _Reversed:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def expected(
    w: dict[str, Any],
    order: list[dict[str, Any]],
    take: int | None,
    skip: int | None,
    cursor: int | None = None,
) -> list[int]:
    rows = [r for r in ROWS if evaluate(r, w) is True]
    rows.sort(key=order_key([*order, {"id": {"sort": "asc"}}]))
    ids = [r["id"] for r in rows]
    if cursor is not None:  # only with the id order: the cursor row's position, inclusive
        ids = [i for i in ids if (i <= cursor if take is not None and take < 0 else i >= cursor)]
    skip = skip or 0
    if take is None:
        return ids[skip:]
    if take >= 0:
        return ids[skip : skip + take]
    backwards = list(reversed(ids))[skip : skip - take]
    return list(reversed(backwards))


# --- the test ---------------------------------------------------------------------------------------


@pytest.fixture
def seeded(pg_database: str) -> Iterator[tuple[asyncio.AbstractEventLoop, asyncpg.Connection, Schema]]:
    loop = asyncio.new_event_loop()

    async def setup() -> tuple[asyncpg.Connection, Schema]:
        conn = await asyncpg.connect(pg_database)
        await conn.execute('CREATE TABLE items (id int PRIMARY KEY, n int, s text COLLATE "C", ok boolean)')
        await conn.executemany(
            "INSERT INTO items VALUES ($1, $2, $3, $4)", [(r["id"], r["n"], r["s"], r["ok"]) for r in ROWS]
        )
        return conn, await introspect(conn)

    conn, schema = loop.run_until_complete(setup())
    yield loop, conn, schema
    loop.run_until_complete(conn.close())
    loop.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    w=where,
    order=st.lists(order_term, max_size=2),
    take=st.one_of(st.none(), st.integers(-6, 6)),
    skip=st.one_of(st.none(), st.integers(0, 5)),
    cursor=st.one_of(st.none(), st.integers(1, 45)),
)
def test_find_many_agrees_with_an_independent_evaluation(
    seeded: tuple[asyncio.AbstractEventLoop, asyncpg.Connection, Schema],
    w: dict[str, Any],
    order: list[dict[str, Any]],
    take: int | None,
    skip: int | None,
    cursor: int | None,
) -> None:
    loop, conn, schema = seeded
    arguments: dict[str, Any] = {"where": w, "orderBy": [*order, {"id": "asc"}]}
    if order:
        cursor = None
    if cursor is not None:
        arguments["cursor"] = {"id": cursor}
    if take is not None:
        arguments["take"] = take
    if skip is not None:
        arguments["skip"] = skip
    query = parse(
        {
            "modelName": "items",
            "action": "findMany",
            "query": {"arguments": arguments, "selection": {"id": True}},
        }
    )
    outcome = loop.run_until_complete(engine.run(schema, query, conn))
    found = [r["id"] for r in outcome.value()]
    if cursor is not None and cursor > len(ROWS):
        assert found == []  # a cursor on a missing record finds nothing, as in Prisma
    else:
        assert found == expected(w, order, take, skip, cursor)

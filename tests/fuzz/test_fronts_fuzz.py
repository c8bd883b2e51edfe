"""Zero 5xx: recorded requests of real Prisma 6 and 7 clients, mutated (tests/fuzz/mutate.py), sent
through the local edge to every front: the Prisma 6 JSON protocol with batches and schema uploads,
Prisma 7 plans and connection info, `/v1` with raw queries and their parameters, interactive
transactions on all three, the cache's invalidation routes and `/v1/stream` parameters."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st

from bwedge import subscription
from tests.fuzz.conftest import (
    PRISMA6,
    PRISMA6_HASH,
    PRISMA6_VERSION,
    PRISMA7,
    SCHEMAS,
    FuzzTarget,
    check,
    fuzz_settings,
    request_headers,
    schema_upload,
)
from tests.fuzz.mutate import as_text, mutated, nasty_scalars, subtrees

pytestmark = pytest.mark.e2e

P6_QUERIES = [r for r in PRISMA6 if r["path"].endswith("/graphql") and isinstance(r["req_body"], dict)]
P6_TX_OPTIONS = [r["req_body"] for r in PRISMA6 if r["path"].endswith("/transaction/start")]
P7_PLANS = [r for r in PRISMA7 if r["path"].endswith("/query") and isinstance(r["req_body"], dict)]
P7_TX_OPTIONS = [r["req_body"] for r in PRISMA7 if r["path"] == "/transaction/start"]
JSON_QUERIES = [r["req_body"] for r in P6_QUERIES]
DONORS = subtrees(JSON_QUERIES + [r["req_body"] for r in P7_PLANS])

RAW_SQL = [
    "SELECT $1::int4",
    "SELECT $1::int8",
    "SELECT $1::numeric",
    "SELECT $1::float8",
    "SELECT $1::timestamptz",
    "SELECT $1::timestamp",
    "SELECT $1::date",
    "SELECT $1::time",
    "SELECT $1::bytea",
    "SELECT $1::jsonb",
    "SELECT $1::uuid",
    "SELECT $1::bool",
    "SELECT $1::text[]",
    "SELECT $1::int4[]",
    'SELECT $1::"Role"',
    "SELECT $1::interval",
    "SELECT $1::inet",
    "SELECT $1::money",
    "SELECT $1, $2",
    'SELECT * FROM "Thing" WHERE id = $1',
    'UPDATE "User" SET name = $1 WHERE id = $2',
    "SELECT 'Infinity'::float8 AS a, 'NaN'::float8 AS b, '-infinity'::timestamptz AS c, 'NaN'::numeric AS d",
    "SELECT '\\x00ff'::bytea, '{\"a\": [1, {\"b\": null}]}'::jsonb, ARRAY[1.5, 'NaN']::float8[]",
]


def raw_parameter() -> st.SearchStrategy[Any]:
    tagged = st.builds(
        lambda kind, value: {"prisma__type": kind, "prisma__value": value},
        st.sampled_from(["date", "bigint", "decimal", "bytes", "json", "nope"]),
        nasty_scalars(),
    )
    return st.one_of(nasty_scalars(), tagged, st.lists(nasty_scalars(), max_size=3))


@st.composite
def raw_query(draw: st.DrawFn) -> dict[str, Any]:
    params = draw(st.lists(raw_parameter(), max_size=3))
    arguments: dict[str, Any] = {"query": draw(st.sampled_from(RAW_SQL))}
    style = draw(st.sampled_from(["string", "list", "absent"]))
    if style == "string":  # Prisma 6 sends the parameters as JSON text
        arguments["parameters"] = json.dumps(params)
    elif style == "list":
        arguments["parameters"] = params
    action = draw(st.sampled_from(["queryRaw", "executeRaw"]))
    return {"action": action, "query": {"arguments": arguments}}


def keys(target: FuzzTarget) -> st.SearchStrategy[str]:
    return st.sampled_from([target.read_write, target.read_only])


# Headers the edge or the origin read: the cache's, the query log's, the client version, ids.
HEADER_NAMES = [
    "cache-control",
    "accelerate-cache-tags",
    "x-capture-telemetry",
    "prisma-engine-hash",
    "x-request-id",
    "x-transaction-id",
    "x-breakwater-database",
    "x-forwarded-host",
    "content-type",
]
HEADER_VALUES = [
    "max-age=60",
    "max-age=60,stale-while-revalidate=30",
    "max-age=-1",
    "max-age=99999999999999999999",
    "s-maxage=1, max-age=abc",
    "no-cache",
    "a,b,c",
    "," * 200,
    "t" * 5000,
    "query,info,warn,error",
    "error",
    "7.10.1",
    "o1~abc",
    "",
]


def extra_headers() -> st.SearchStrategy[dict[str, str]]:
    # Printable ASCII without surrounding spaces: what an HTTP client lets through at all.
    printable = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
        str.strip
    )
    return st.dictionaries(
        st.sampled_from(HEADER_NAMES), st.sampled_from(HEADER_VALUES) | printable, max_size=3
    )


@fuzz_settings(ci_examples=120)
@given(data=st.data())
def test_prisma6_queries_and_batches_never_get_a_server_error(
    target: FuzzTarget, data: st.DataObject
) -> None:
    record = data.draw(st.sampled_from(P6_QUERIES))
    body = data.draw(as_text(data.draw(mutated(record["req_body"], DONORS))))
    key = data.draw(keys(target))
    path = f"/{PRISMA6_VERSION}/{PRISMA6_HASH}/graphql"
    headers = {**request_headers(record), **target.headers(key), **data.draw(extra_headers())}
    response = target.edge.post(path, content=body, headers=headers)
    check(response, f"POST {path}", body)


@fuzz_settings(ci_examples=40)
@given(data=st.data())
def test_prisma6_schema_uploads_never_get_a_server_error(target: FuzzTarget, data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(SCHEMAS))
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        spot = data.draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)))
        edit = data.draw(st.sampled_from(["drop", "copy", "insert", "nest", "chars"]))
        if edit == "drop" and lines:
            del lines[spot]
        elif edit == "copy" and lines:
            lines.insert(spot, lines[spot])
        elif edit == "insert":
            token = data.draw(
                st.sampled_from(
                    [
                        "model X {",
                        "}",
                        "  id Int @id @default(autoincrement())",
                        "  a  String? @unique @db.VarChar(99999999999999999999)",
                        "  u  User @relation(fields: [uid], references: [id])",
                        '  @@map("\\u0000")',
                        "enum E { A B }",
                        '  d  Decimal @default(dbgenerated("now()"))',
                        "  l  Int[] @default([1, 2, 3])",
                        "datasource db {",
                        '  provider = "postgresql"',
                        "/// doc",
                        '  x Unsupported("circle")',
                        "  @@index([",
                    ]
                )
                | st.text(max_size=30)
            )
            lines.insert(spot, token)
        elif edit == "nest":
            depth = data.draw(st.sampled_from([10, 300, 5000]))
            lines.insert(spot, "  x Int @default(" + "(" * depth + ")" * depth + ")")
        elif edit == "chars" and lines:
            lines[spot] = lines[spot][: len(lines[spot]) // 2] + data.draw(st.text(max_size=5))
    path, body = schema_upload("\n".join(lines))
    headers = target.headers(target.read_write, {"content-type": "text/plain"})
    response = target.edge.put(path, content=body, headers=headers)
    check(response, f"PUT {path}", body)
    if response.status_code == 200:  # then compile a recorded query against the fuzzed schema
        record = data.draw(st.sampled_from(P6_QUERIES))
        query = (
            data.draw(mutated(record["req_body"], DONORS)) if data.draw(st.booleans()) else record["req_body"]
        )
        graphql = path.removesuffix("/schema") + "/graphql"
        content = json.dumps(query).encode()
        check(
            target.edge.post(graphql, content=content, headers=target.headers(target.read_write)),
            graphql,
            content,
        )


@fuzz_settings(ci_examples=120)
@given(data=st.data())
def test_prisma7_plans_never_get_a_server_error(target: FuzzTarget, data: st.DataObject) -> None:
    record = data.draw(st.sampled_from(P7_PLANS))
    body = data.draw(as_text(data.draw(mutated(record["req_body"], DONORS))))
    key = data.draw(keys(target))
    headers = {**request_headers(record), **target.headers(key), **data.draw(extra_headers())}
    response = target.edge.post("/query", content=body, headers=headers)
    check(response, "POST /query", body)


@fuzz_settings(ci_examples=100)
@given(data=st.data())
def test_v1_queries_raw_queries_and_batches_never_get_a_server_error(
    target: FuzzTarget, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(["query", "raw", "batch"]))
    if kind == "raw":
        value: Any = data.draw(raw_query())
        if data.draw(st.booleans()):
            value = data.draw(mutated(value, DONORS))
    elif kind == "batch":
        queries = data.draw(st.lists(st.sampled_from(JSON_QUERIES) | raw_query(), min_size=1, max_size=4))
        value = {"batch": queries, **data.draw(st.sampled_from([{}, {"transaction": {}}]))}
        value = data.draw(mutated(value, DONORS))
    else:
        value = data.draw(mutated(data.draw(st.sampled_from(JSON_QUERIES)), DONORS))
    body = data.draw(as_text(value))
    headers = {**target.headers(data.draw(keys(target))), **data.draw(extra_headers())}
    response = target.edge.post("/v1/query", content=body, headers=headers)
    check(response, "POST /v1/query", body)


# --- interactive transactions ---------------------------------------------------------------------

FRONTS = {
    "v1": ("/v1/transaction/start", "/v1/transaction/{id}/{op}", "query"),
    "prisma6": (
        f"/{PRISMA6_VERSION}/{PRISMA6_HASH}/transaction/start",
        f"/{PRISMA6_VERSION}/{PRISMA6_HASH}/itx/{{id}}/{{op}}",
        "graphql",
    ),
    "prisma7": ("/transaction/start", "/transaction/{id}/{op}", "query"),
}
FORGED_IDS = ["o1~", "o9~abc", "x" * 128, "o1~" + "a" * 125, "..", "o1~%2e%2e", "undefined", "o1~00000000"]


def transaction_options(front: str) -> st.SearchStrategy[Any]:
    recorded = P6_TX_OPTIONS if front == "prisma6" else P7_TX_OPTIONS
    names = (
        ["max_wait", "timeout", "isolation_level"]
        if front == "prisma6"
        else ["maxWait", "timeout", "isolationLevel"]
    )
    made = st.dictionaries(
        st.sampled_from(names), nasty_scalars() | st.sampled_from(["Serializable", "ReadCommitted"])
    )
    return st.sampled_from(recorded) | made | st.sampled_from(recorded).flatmap(lambda o: mutated(o, []))


def operation_body(front: str) -> st.SearchStrategy[Any]:
    if front == "prisma7":
        return st.sampled_from([r["req_body"] for r in P7_PLANS]).flatmap(lambda b: mutated(b, DONORS))
    return st.sampled_from(JSON_QUERIES).flatmap(lambda b: mutated(b, DONORS)) | raw_query()


@fuzz_settings(ci_examples=50)
@given(data=st.data())
def test_interactive_transactions_never_get_a_server_error(target: FuzzTarget, data: st.DataObject) -> None:
    key = data.draw(keys(target))
    headers = target.headers(key)
    started: list[tuple[str, str]] = []  # (front, id): rolled back at the end, whatever happened
    try:
        front = data.draw(st.sampled_from(sorted(FRONTS)))
        start_path = FRONTS[front][0]
        options = data.draw(as_text(data.draw(transaction_options(front))))
        response = target.edge.post(start_path, content=options, headers=headers)
        check(response, f"POST {start_path}", options)
        if response.status_code == 200:
            started.append((front, response.json()["id"]))
        for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
            on = data.draw(st.sampled_from(sorted(FRONTS)))
            tx_id = data.draw(
                st.sampled_from([i for _, i in started] or ["o1~none"])
                | st.sampled_from(FORGED_IDS)
                | st.text(max_size=10)
            )
            op = data.draw(st.sampled_from([FRONTS[on][2], FRONTS[on][2], "commit", "rollback"]))
            path = FRONTS[on][1].format(id=quote(tx_id, safe="~"), op=op)
            body = data.draw(as_text(data.draw(operation_body(on)))) if op in ("query", "graphql") else b""
            check(target.edge.post(path, content=body, headers=headers), f"POST {path}", body)
    finally:
        for front, tx_id in started:
            target.edge.post(FRONTS[front][1].format(id=tx_id, op="rollback"), headers=headers)


# --- the rest of the routes: connection info, invalidation, streams -------------------------------


@fuzz_settings(ci_examples=40)
@given(data=st.data())
def test_connection_info_and_invalidation_never_get_a_server_error(
    target: FuzzTarget, data: st.DataObject
) -> None:
    query = data.draw(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))
    key = data.draw(keys(target))
    info = target.edge.get("/connection-info?" + urlencode(query), headers=target.headers(key))
    check(info, "GET /connection-info", urlencode(query))
    path = data.draw(st.sampled_from(["/invalidate", "/v1/invalidate"]))
    recorded = {"tags": ["posts"]}
    value = data.draw(
        st.sampled_from([recorded, {"tags": "all"}, {"models": ["User"]}]).flatmap(lambda b: mutated(b, []))
    )
    body = data.draw(as_text(value))
    check(target.edge.post(path, content=body, headers=target.headers(key)), f"POST {path}", body)


STREAM_PARAMETERS = ["models", "model", "actions", "where", "filterOn", "name", "offset", "window", "x"]


def stream_query() -> st.SearchStrategy[dict[str, str]]:
    values = st.one_of(
        st.text(max_size=20),
        st.sampled_from(
            [
                "User",
                "User,Post",
                "create,update",
                "after",
                "before",
                "earliest",
                "latest",
                "FFFFFFFFFFFFFFFF-FFFFFFFF",
                "7FFFFFFFFFFFFFFF-FFFFFFFF",
                "0000000000000000-00000000",
                "-1",
                "99999999999999999999",
                "1e3",
                '{"id": {"gt": 1}}',
                '{"email": {"endsWith": "@x.io"}}',
                "[" * 5000,
                '{"AND": ' * 40 + "{}" + "}" * 40,
                '{"id": NaN}',
                '{"id": {"gt": 1e999}}',
                "\ud800",
            ]
        ),
    )
    return st.dictionaries(st.sampled_from(STREAM_PARAMETERS), values, max_size=5)


@fuzz_settings(ci_examples=300)
@given(query=stream_query())
def test_stream_parameters_parse_or_are_refused_with_their_name(query: dict[str, str]) -> None:
    try:
        subscription.parse(query)
    except subscription.InvalidSubscription as exc:
        assert exc.parameter in STREAM_PARAMETERS


@fuzz_settings(ci_examples=25)
@given(query=stream_query())
def test_stream_requests_never_get_a_server_error(target: FuzzTarget, query: dict[str, str]) -> None:
    url = str(target.edge.base_url).replace("http://", "ws://").rstrip("/") + "/v1/stream?"
    url += urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
    headers = {"authorization": f"Bearer {target.read_write}"}

    async def attempt() -> int:
        try:
            socket = await websockets.connect(url, additional_headers=headers, open_timeout=30)
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        await socket.close()
        return 101

    status = asyncio.run(attempt())
    assert status < 500, f"GET {url[:300]} answered {status}"

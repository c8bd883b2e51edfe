"""Change events end to end: Postgres → capture in the origin → the edge's queue → a consumer.

Through the session's stack (local edge runtime, origin and host agent as processes, real Postgres).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from breakwater import Client, StreamError
from breakwater.stream import EventStream
from bwcontract.offsets import Position
from bwdev.stack import Stack
from origin.capture.push import EdgePusher
from tests.conftest import TenantDatabase, create_tenant

pytestmark = pytest.mark.e2e


async def take(events: EventStream, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [await anext(events) for _ in range(count)]

    return await asyncio.wait_for(collect(), timeout)


def plain(event: dict[str, Any]) -> dict[str, Any]:
    """The event without what differs per run (ids, offsets, times)."""
    assert event["id"].startswith("ev_") and len(event["offset"]) == 25 and event["commitTime"].endswith("Z")
    return {k: v for k, v in event.items() if k not in ("id", "offset", "commitTime")}


@pytest.fixture
async def db(tenant: TenantDatabase) -> AsyncIterator[Client]:
    await tenant.sql(
        "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, age int, joined timestamptz,"
        " bio text)"
    )
    async with Client(tenant.url) as client:
        yield client


async def test_creates_updates_and_deletes_arrive_in_commit_order_encoded_like_query_results(
    db: Client, tenant: TenantDatabase
) -> None:
    async with db.users.stream() as events:
        await tenant.sql(
            "INSERT INTO users (email, age, joined)"
            " VALUES ('a@x.io', 30, '2024-05-01T10:00:00Z'), ('b@y.io', 5, NULL)"
        )
        await tenant.sql("UPDATE users SET age = 31 WHERE email = 'a@x.io'")
        await tenant.sql("DELETE FROM users WHERE email = 'b@y.io'")
        received = await take(events, 4)
    joined = {"$type": "DateTime", "value": "2024-05-01T10:00:00.000Z"}
    a = {"id": 1, "email": "a@x.io", "age": 30, "joined": joined, "bio": None}
    assert [plain(e) for e in received] == [
        {"modelName": "users", "action": "create", "created": a},
        {
            "modelName": "users",
            "action": "create",
            "created": {"id": 2, "email": "b@y.io", "age": 5, "joined": None, "bio": None},
        },
        {
            "modelName": "users",
            "action": "update",
            "before": {"id": 1},
            "after": {**a, "age": 31},
            "partial": True,
        },
        {"modelName": "users", "action": "delete", "deleted": {"id": 2}, "partial": True},
    ]
    offsets = [e["offset"] for e in received]
    assert offsets == sorted(offsets) and len(set(offsets)) == 4
    # The first two came from one transaction: one commit LSN, positions 0 and 1.
    assert offsets[0][:16] == offsets[1][:16] and (offsets[0][-1], offsets[1][-1]) == ("0", "1")


async def test_filters_and_action_selection_deliver_exactly_the_matching_events(
    db: Client, tenant: TenantDatabase
) -> None:
    wanted = {"email": {"endsWith": "@x.io"}, "OR": [{"age": {"gte": 18}}, {"age": None}]}
    async with db.users.stream(actions=["create", "update"], where=wanted) as events:
        await tenant.sql("INSERT INTO users (email, age) VALUES ('adult@x.io', 40)")  # yes
        await tenant.sql("INSERT INTO users (email, age) VALUES ('kid@x.io', 9)")  # no: age
        await tenant.sql("INSERT INTO users (email, age) VALUES ('other@y.io', 50)")  # no: email
        await tenant.sql("INSERT INTO users (email) VALUES ('unknown@x.io')")  # yes: age is null
        await tenant.sql("UPDATE users SET age = 19 WHERE email = 'kid@x.io'")  # yes: after matches
        await tenant.sql("DELETE FROM users WHERE email = 'adult@x.io'")  # no: action
        await tenant.sql("INSERT INTO users (email, age) VALUES ('last@x.io', 99)")  # yes
        received = await take(events, 4)
    assert [(e["action"], (e.get("created") or e["after"])["email"]) for e in received] == [
        ("create", "adult@x.io"),
        ("create", "unknown@x.io"),
        ("update", "kid@x.io"),
        ("create", "last@x.io"),
    ]


async def test_a_named_stream_resumes_after_its_last_acknowledgement(
    db: Client, tenant: TenantDatabase
) -> None:
    async with db.users.stream(name="resume", offset="latest") as events:
        await tenant.sql("INSERT INTO users (email) VALUES ('1@x.io'), ('2@x.io'), ('3@x.io')")
        first = await take(events, 3)
        await events.ack(first[0])
    await tenant.sql("INSERT INTO users (email) VALUES ('4@x.io')")
    async with db.users.stream(name="resume", auto_ack=True) as events:
        again = await take(events, 3)
    assert [e["created"]["email"] for e in again] == ["2@x.io", "3@x.io", "4@x.io"]
    assert [e["offset"] for e in again[:2]] == [e["offset"] for e in first[1:]]


async def test_an_event_larger_than_a_tier1_value_is_delivered_whole(
    db: Client, tenant: TenantDatabase
) -> None:
    bio = "".join(chr(0x41 + i % 26) + str(i) for i in range(400_000))  # ~2.6 MB: over the 1 MB tier-1 limit
    async with db.users.stream() as events:
        await tenant.sql("INSERT INTO users (email, bio) VALUES ('big@x.io', $1)", bio)
        await tenant.sql("INSERT INTO users (email) VALUES ('after@x.io')")
        big, after = await take(events, 2)
    assert big["created"]["bio"] == bio and after["created"]["email"] == "after@x.io"


async def test_an_event_too_large_for_one_push_arrives_in_parts_and_is_delivered_whole(
    db: Client, tenant: TenantDatabase
) -> None:
    # ~10 MB of text: over the origin's 4 Mi-character part size, so it reaches the queue in 3 parts.
    bio = "".join(chr(0x41 + i % 26) + str(i) for i in range(1_500_000))
    async with db.users.stream() as events:
        await tenant.sql("INSERT INTO users (email, bio) VALUES ('huge@x.io', $1)", bio)
        await tenant.sql("INSERT INTO users (email) VALUES ('after@x.io')")
        huge, after = await take(events, 2, timeout=60)
    assert huge["created"]["bio"] == bio and after["created"]["email"] == "after@x.io"
    assert "$parts" not in huge


async def test_the_pusher_sends_a_large_event_ahead_in_parts_and_the_queue_joins_them(
    stack: Stack, db: Client, tenant: TenantDatabase
) -> None:
    """The same path with a small part size, so the parts are many and the event stays small."""
    position = Position(1, 0)
    big = {
        "id": position.event_id,
        "offset": position.offset,
        "modelName": "users",
        "action": "create",
        "created": {"id": 1, "email": "p@x.io", "bio": "ü" * 5_000},
        "commitTime": "2026-01-01T00:00:00.000Z",
    }
    paths: list[str] = []

    async def seen(request: httpx.Request) -> None:
        paths.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [seen]}) as http, db.users.stream() as events:
        pusher = EdgePusher(stack.edge_url, stack.secrets["service_secret"].encode(), http, part_chars=1_000)
        await pusher.push(tenant.id, [json.dumps(big)])
        (got,) = await take(events, 1)
    assert got == big
    parts = [p for p in paths if "/parts/" in p]
    assert len(parts) == -(-len(json.dumps(big)) // 1_000) and paths[-1] == f"/_bw/events/{tenant.id}"
    unsigned = httpx.post(f"{stack.edge_url}{parts[0]}", content=b"x")
    assert unsigned.status_code == 401


async def test_streams_are_refused_with_a_code_for_unknown_models_fields_and_plain_requests(
    stack: Stack, db: Client, tenant: TenantDatabase
) -> None:
    with pytest.raises(StreamError) as unknown:
        async with db.nobody.stream(reconnect=False):
            pass
    assert (unknown.value.status, unknown.value.code) == (400, "P2009")
    with pytest.raises(StreamError) as field:
        async with db.users.stream(where={"nope": 1}, reconnect=False):
            pass
    assert (field.value.status, field.value.code) == (400, "P2009") and "nope" in field.value.message
    with pytest.raises(StreamError) as action:
        async with db.users.stream(actions=["upsert"], reconnect=False):
            pass
    assert (action.value.status, action.value.code) == (400, "BW1002")
    async with httpx.AsyncClient(base_url=stack.edge_url) as http:
        response = await http.get(f"/v1/stream?api_key={tenant.api_key}")
    assert response.status_code == 426 and response.json()["code"] == "BW1426"


async def test_a_key_of_one_database_can_never_open_or_read_anothers_stream(stack: Stack) -> None:
    a, b = create_tenant(stack, "evA"), create_tenant(stack, "evB")
    for t in (a, b):
        await t.sql("CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)")
    url = stack.edge_url.replace("http", "ws") + "/v1/stream?models=users"
    headers = {"authorization": f"Bearer {a.api_key}"}
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await websockets.connect(f"{url}&database={b.name}", additional_headers=headers)
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["code"] == "P6002"
    async with Client(a.url) as client, client.users.stream() as events:
        await b.sql("INSERT INTO users (email) VALUES ('secret@b.io')")
        await a.sql("INSERT INTO users (email) VALUES ('mine@a.io')")
        received = await take(events, 1)
        await asyncio.sleep(0.3)  # give B's event every chance to leak
        assert not events._buffer
    assert received[0]["created"]["email"] == "mine@a.io"


async def test_full_images_can_be_turned_on_per_table(
    stack: Stack, db: Client, tenant: TenantDatabase
) -> None:
    answer = stack.admin("PUT", f"/admin/databases/{tenant.name}/tables/users/full-images", {"full": True})
    assert answer == {"database": tenant.name, "table": "users", "fullImages": True}
    async with db.users.stream(actions=["update"], filter_on="before", where={"age": 1}) as events:
        await tenant.sql("INSERT INTO users (email, age) VALUES ('a@x.io', 1), ('b@x.io', 2)")
        await tenant.sql("UPDATE users SET age = age + 10")
        (update,) = await take(events, 1)
    assert update["before"] == {"id": 1, "email": "a@x.io", "age": 1, "joined": None, "bio": None}
    assert update["after"]["age"] == 11 and "partial" not in update


async def test_a_database_with_capture_on_can_still_be_deleted(stack: Stack) -> None:
    doomed = create_tenant(stack, "evdel")
    await doomed.sql("CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)")
    async with Client(doomed.url) as client, client.users.stream() as events:
        await doomed.sql("INSERT INTO users (email) VALUES ('x@x.io')")
        await take(events, 1)
    deleted = stack.admin("DELETE", f"/admin/databases/{doomed.name}")
    assert deleted["deleted"]["name"] == doomed.name


async def test_a_table_without_a_primary_key_keeps_taking_updates_and_gets_full_images(
    db: Client, tenant: TenantDatabase
) -> None:
    async with db.users.stream():
        pass  # capture is on from here
    # Created afterwards: with a publication on, Postgres would refuse UPDATE on a table without a
    # replica identity; the host's guard gave it REPLICA IDENTITY FULL.
    await tenant.sql("CREATE TABLE notes (body text)")
    async with Client(tenant.url) as fresh, fresh.notes.stream() as events:
        await tenant.sql("INSERT INTO notes VALUES ('a')")
        await tenant.sql("UPDATE notes SET body = 'b'")
        await tenant.sql("DELETE FROM notes")
        received = await take(events, 3)
    assert [plain(e) for e in received] == [
        {"modelName": "notes", "action": "create", "created": {"body": "a"}},
        {"modelName": "notes", "action": "update", "before": {"body": "a"}, "after": {"body": "b"}},
        {"modelName": "notes", "action": "delete", "deleted": {"body": "b"}},
    ]


async def test_a_change_from_any_writer_makes_the_next_cached_read_fresh(
    db: Client, tenant: TenantDatabase, edge: httpx.AsyncClient
) -> None:
    """Capture feeds the edge cache: a write that never passed through the edge (plain SQL here)
    bumps the model's tag once its event is stored, so the cached read is not served stale."""
    await tenant.sql("INSERT INTO users (email) VALUES ('first@x.io')")
    selection = {"email": True}
    find = {"modelName": "users", "action": "findMany", "query": {"arguments": {}, "selection": selection}}
    headers = {"authorization": f"Bearer {tenant.api_key}", "cache-control": "max-age=600"}

    async def read() -> tuple[str, list[str]]:
        response = await edge.post("/v1/query", json=find, headers=headers)
        assert response.status_code == 200, response.text
        return response.headers["accelerate-cache-status"], [r["email"] for r in response.json()["data"]]

    async with db.users.stream() as events:  # opening a stream turns capture on
        assert await read() == ("miss", ["first@x.io"])
        assert await read() == ("ttl", ["first@x.io"])
        await tenant.sql("INSERT INTO users (email) VALUES ('second@x.io')")
        await take(events, 1)  # the queue stored the change, and with it bumped the tag
    assert await read() == ("miss", ["first@x.io", "second@x.io"])


async def test_a_truncate_reaches_consumers_and_the_cache(
    db: Client, tenant: TenantDatabase, edge: httpx.AsyncClient
) -> None:
    """TRUNCATE removes every row without a delete per row: consumers get one `truncate` event
    (whatever their filter), and cached reads of the table stop being served."""
    await tenant.sql("INSERT INTO users (email) VALUES ('gone@x.io')")
    find = {"modelName": "users", "action": "findMany", "query": {"arguments": {}, "selection": {"id": True}}}
    headers = {"authorization": f"Bearer {tenant.api_key}", "cache-control": "max-age=600"}

    async def read() -> tuple[str, int]:
        response = await edge.post("/v1/query", json=find, headers=headers)
        assert response.status_code == 200, response.text
        return response.headers["accelerate-cache-status"], len(response.json()["data"])

    filtered = {"email": {"endsWith": "@x.io"}}
    async with db.users.stream(where=filtered) as events, db.users.stream(actions=["create"]) as creates:
        assert await read() == ("miss", 1)
        assert await read() == ("ttl", 1)
        await tenant.sql("TRUNCATE users RESTART IDENTITY")
        (truncated,) = await take(events, 1)  # stored, and with it the table's tag bumped
        assert await read() == ("miss", 0)
        await tenant.sql("INSERT INTO users (email) VALUES ('after@x.io')")
        (created,) = await take(events, 1)
        only_create = await take(creates, 1)
    assert plain(truncated) == {"modelName": "users", "action": "truncate", "restartIdentity": True}
    assert created["created"] == {"id": 1, "email": "after@x.io", "age": None, "joined": None, "bio": None}
    assert [e["action"] for e in only_create] == ["create"]

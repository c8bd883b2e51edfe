"""Three origins behind one edge, under load and under kill -9 (issue 18, the origins' half).

- The host's budget holds over all origins: `pg_stat_activity` on the host, sampled all along, never
  shows more tenant sessions than the budget, and a killed origin's share goes to the others within
  seconds (their pools then really hold more).
- The edge spreads load over the origins; when one dies, no read fails, a write either ran once or
  failed with BW3101 (never twice: every write inserts a row with its own token and bumps a counter
  in one transaction; a write running on the killed origin gets BW3101 and is not sent elsewhere), an
  interactive transaction on the dead origin fails with P2028 and its writes are gone; the origin
  comes back and gets requests again.
- Change capture moves to another origin when its leader dies (twice): a ledger of committed writes
  reaches a named consumer in full and in commit order.

One stack for the module, shared by the tests; each leaves all three origins running (which is
why it is one module of over 400 lines: the stack of three origins is costly to start).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from breakwater import Client
from bwdev.stack import Stack, StackConfig
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user
from tests.cdc.test_faults import Consumer, Ledger, as_expected
from tests.conftest import TenantDatabase, create_tenant

pytestmark = pytest.mark.e2e

BUDGET = 9  # the pools' part of the host, over all origins (3 each while three are live)
HOST_BUDGET = 12  # every session on the host: the pools', change capture's, direct clients'
SERVICES = {"o1": "origin", "o2": "origin-2", "o3": "origin-3"}


@pytest.fixture(scope="module")
def three(session_dir: Path) -> Iterator[Stack]:
    config = StackConfig(
        root=session_dir / "three-origins",
        origins=3,
        durable=False,
        extra_env={
            "BREAKWATER_POOL_HOST_BUDGET": str(BUDGET),
            "BREAKWATER_HOST_CONNECTION_BUDGET": str(HOST_BUDGET),
            "BREAKWATER_CAPTURE_TAKEOVER_SECONDS": "0.2",
        },
    )
    with Stack(config) as stack:
        yield stack


async def in_thread(work: Callable[[], object]) -> None:
    await asyncio.get_running_loop().run_in_executor(None, work)


async def kill(stack: Stack, origin_id: str) -> None:
    await in_thread(lambda: stack.stop_service(SERVICES[origin_id], kill=True))


async def start(stack: Stack, origin_id: str) -> None:
    await in_thread(lambda: stack.start_service(SERVICES[origin_id]))


async def admin(stack: Stack, origin_id: str, path: str) -> dict[str, Any]:
    """An admin figure from one origin process itself."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            stack.origin_urls[origin_id] + path,
            headers={"authorization": f"Bearer {stack.secrets['admin_token']}"},
        )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> float:
    """Seconds until `check` held."""
    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < seconds, f"{what} took over {seconds}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


def shares_are(stack: Stack, expected: dict[str, int]) -> Callable[[], Awaitable[bool]]:
    """Each listed origin counts the given number of live origins and holds its part of the host."""

    async def check() -> bool:
        for origin_id, count in expected.items():
            pool = await admin(stack, origin_id, "/admin/pool")
            if pool["share"]["origins"] != count:
                return False
            if any(h["budget"] < BUDGET // count for h in pool["hosts"]):
                return False
        return True

    return check


class HostSessions:
    """Samples the tenant sessions on the host's shared cluster (every backend a client opened
    through the host's proxy: pools, capture, direct clients), as Postgres counts them."""

    def __init__(self, stack: Stack) -> None:
        self.instance = PostgresInstance(stack.hosts_root / "instances" / "shared-1", service_user())
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HostSessions:
        conn = await asyncpg.connect(self.instance.dsn())
        self._task = asyncio.ensure_future(self._run(conn))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self, conn: asyncpg.Connection) -> None:
        try:
            while True:
                count = await conn.fetchval(
                    "SELECT count(*) FROM pg_catalog.pg_stat_activity"
                    " WHERE backend_type IN ('client backend', 'walsender') AND usename <> current_user"
                )
                self.samples.append((time.monotonic(), int(count)))
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    def peak(self, since: float = 0.0) -> int:
        return max((n for at, n in self.samples if at >= since), default=0)


def query(model: str, action: str, arguments: dict[str, Any]) -> dict[str, Any]:
    selection = {"$scalars": True}
    return {"modelName": model, "action": action, "query": {"arguments": arguments, "selection": selection}}


SLOW_READ = json.dumps(query("slow", "findMany", {}))


@dataclass
class Load:
    """Readers of a slow view and writers of a token and a counter, through the edge, until stopped."""

    api: httpx.AsyncClient
    readers: int
    writers: int
    reads: list[tuple[int, str]] = field(default_factory=list)  # status, code
    writes: dict[str, tuple[int, str]] = field(default_factory=dict)  # token → status, code
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _tokens: Iterator[int] = field(default_factory=itertools.count)

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._read()) for _ in range(self.readers)]
        self._tasks += [asyncio.ensure_future(self._write()) for _ in range(self.writers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _read(self) -> None:
        while not self._stop.is_set():
            response = await self.api.post("/v1/query", content=SLOW_READ)
            self.reads.append((response.status_code, response.headers.get("prisma-error-code", "")))

    async def _write(self) -> None:
        while not self._stop.is_set():
            token = f"w{next(self._tokens)}"
            body = {
                "batch": [
                    query("ledger", "createOne", {"data": {"token": token}}),
                    query("counter", "updateOne", {"where": {"id": 1}, "data": {"n": {"increment": 1}}}),
                ],
                "transaction": {},
            }
            response = await self.api.post("/v1/query", json=body)
            self.writes[token] = (response.status_code, response.headers.get("prisma-error-code", ""))


@pytest.fixture
async def loaded(three: Stack) -> AsyncIterator[tuple[TenantDatabase, httpx.AsyncClient]]:
    db = create_tenant(three, "many")
    await db.sql("CREATE TABLE ledger (id serial PRIMARY KEY, token text NOT NULL)")
    await db.sql("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)")
    await db.sql("INSERT INTO counter VALUES (1, 0)")
    # A read that holds its connection a while, so the pools need all they may have.
    await db.sql(
        "CREATE VIEW slow AS SELECT g AS id, length(pg_catalog.pg_sleep(0.1)::text) AS z"
        " FROM generate_series(1, 1) g"
    )
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=three.edge_url,
        headers={"authorization": f"Bearer {db.api_key}"},
        timeout=60,
        limits=limits,
    ) as api:
        yield db, api


async def test_the_budget_holds_over_three_origins_and_a_killed_ones_share_and_requests_go_on(
    three: Stack, loaded: tuple[TenantDatabase, httpx.AsyncClient]
) -> None:
    db, api = loaded
    load = Load(api, readers=16, writers=3)
    async with HostSessions(three) as host:
        await until(shares_are(three, {"o1": 3, "o2": 3, "o3": 3}), 10, "three origins dividing the host")
        load.start()
        await asyncio.sleep(1.0)
        # Every origin serves the database (the edge spreads the load).
        for origin_id in SERVICES:
            figures = await admin(three, origin_id, "/admin/pool")
            assert sum(p["acquired"] for p in figures["databases"] if p["database_id"] == db.id) > 0
        before = host.peak()

        killed_at = time.monotonic()
        await kill(three, "o2")
        took = await until(shares_are(three, {"o1": 2, "o3": 2}), 5, "the dead origin's share coming back")
        print(f"share back after {took:.2f}s")
        await asyncio.sleep(1.5)
        after_kill = host.peak(since=killed_at + took)

        await start(three, "o2")
        await until(shares_are(three, {"o1": 3, "o2": 3, "o3": 3}), 10, "o2 taking its share again")
        await asyncio.sleep(1.0)
        await load.stop()

        # o2 is back and serves requests again.
        async def o2_serves() -> bool:
            await api.post("/v1/query", content=SLOW_READ)
            figures = await admin(three, "o2", "/admin/pool")
            return sum(p["acquired"] for p in figures["databases"] if p["database_id"] == db.id) > 0

        await until(o2_serves, 30, "o2 getting requests again")

    print(f"host sessions: peak {host.peak()} (before the kill {before}, after {after_kill})")
    assert host.peak() <= HOST_BUDGET
    assert before > 0 and after_kill > BUDGET * 2 // 3, "the two left did not use the dead one's share"

    assert len(load.reads) > 50
    assert {status for status, _ in load.reads} == {200}, "a read failed"
    outcomes = {outcome for outcome in load.writes.values()}
    assert outcomes <= {(200, ""), (503, "BW3101")}, outcomes
    ran = await db.sql("SELECT token, count(*) AS times FROM ledger GROUP BY token")
    times = {row["token"]: row["times"] for row in ran}
    assert max(times.values()) == 1, "a write ran twice"
    done = {token for token, outcome in load.writes.items() if outcome == (200, "")}
    assert done <= set(times), "a write that answered 200 is missing"
    assert set(times) <= set(load.writes)
    counter = await db.sql("SELECT n FROM counter WHERE id = 1")
    assert counter[0]["n"] == len(times)
    print(f"reads {len(load.reads)}, writes {len(load.writes)} ({len(load.writes) - len(done)} BW3101)")


async def in_use_on(stack: Stack, database_id: str) -> list[str]:
    """The origins holding one of the database's connections in use right now."""
    found = []
    for origin_id in SERVICES:
        figures = await admin(stack, origin_id, "/admin/pool")
        if any(p["in_use"] for p in figures["databases"] if p["database_id"] == database_id):
            found.append(origin_id)
    return found


async def test_a_write_running_on_a_killed_origin_fails_with_bw3101_and_is_not_sent_again(
    three: Stack, loaded: tuple[TenantDatabase, httpx.AsyncClient]
) -> None:
    db, api = loaded
    await db.sql(
        "CREATE FUNCTION slow_token() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.token = 'slow' THEN PERFORM pg_catalog.pg_sleep(1); END IF; RETURN NEW; END $$"
    )
    await db.sql(
        "CREATE TRIGGER slow_token BEFORE INSERT ON ledger FOR EACH ROW EXECUTE FUNCTION slow_token()"
    )
    counted = (await db.sql("SELECT n FROM counter WHERE id = 1"))[0]["n"]
    body = {
        "batch": [
            query("ledger", "createOne", {"data": {"token": "slow"}}),
            query("counter", "updateOne", {"where": {"id": 1}, "data": {"n": {"increment": 1}}}),
        ],
        "transaction": {},
    }
    write = asyncio.ensure_future(api.post("/v1/query", json=body))
    holders: list[str] = []

    async def running() -> bool:
        holders[:] = await in_use_on(three, db.id)
        return bool(holders)

    await until(running, 5, "the write reaching an origin")
    await kill(three, holders[0])
    try:
        response = await write
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "BW3101"
        assert "may or may not have run" in response.json()["message"]

        async def backend_ended() -> bool:
            rows = await db.sql("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
            return not rows

        await until(backend_ended, 10, "the killed origin's session ending")
        await asyncio.sleep(0.5)  # a copy sent elsewhere would have committed by now
        assert await db.sql("SELECT 1 FROM ledger WHERE token = 'slow'") == []
        assert (await db.sql("SELECT n FROM counter WHERE id = 1"))[0]["n"] == counted
    finally:
        await start(three, holders[0])


async def test_a_transaction_on_a_killed_origin_fails_with_p2028_and_leaves_nothing(
    three: Stack, loaded: tuple[TenantDatabase, httpx.AsyncClient]
) -> None:
    db, api = loaded
    started = await api.post("/v1/transaction/start", json={"timeout": 10000})
    assert started.status_code == 200, started.text
    tx = started.json()["id"]
    holder = tx.split("~")[0]
    assert holder in SERVICES
    inside = await api.post(
        f"/v1/transaction/{tx}/query", json=query("ledger", "createOne", {"data": {"token": "in-tx"}})
    )
    assert inside.status_code == 200, inside.text

    await kill(three, holder)
    try:
        for step, body in (("query", SLOW_READ), ("commit", "{}")):
            path = f"/v1/transaction/{tx}/{step}"
            response = await api.post(path, content=body)
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "P2028"
            assert f"the origin {holder} holding this transaction" in response.json()["message"]
        # Other requests go on meanwhile, on the other origins.
        assert (await api.post("/v1/query", content=SLOW_READ)).status_code == 200
        assert await db.sql("SELECT 1 FROM ledger WHERE token = 'in-tx'") == []
    finally:
        await start(three, holder)

    # The origin is back: once the edge's probe saw it, new transactions go to it again.
    async def gets_transactions() -> bool:
        response = await api.post("/v1/transaction/start", json={"timeout": 5000})
        assert response.status_code == 200, response.text
        tx = response.json()["id"]
        await api.post(f"/v1/transaction/{tx}/rollback", content="{}")
        return bool(tx.startswith(holder + "~"))

    took = await until(gets_transactions, 30, f"{holder} getting transactions again")
    print(f"{holder} got a transaction {took:.2f}s after it was back")


async def leader_of(stack: Stack, database_id: str, dead: str = "") -> str | None:
    for origin_id in SERVICES.keys() - {dead}:
        status = await admin(stack, origin_id, "/admin/capture")
        if any(reader.get("database") == database_id for reader in status["leading"]):
            return origin_id
    return None


async def test_change_capture_moves_to_another_origin_when_its_leader_dies_and_loses_nothing(
    three: Stack,
) -> None:
    db = create_tenant(three, "moves")
    await db.sql("CREATE TABLE ledger (id int PRIMARY KEY, v int NOT NULL)")
    ledger = Ledger(db.dsn)
    async with Client(db.url) as client:
        stream = client.ledger.stream(name="moves", window=2000, backoff=(0.02, 0.5))
        async with stream:
            consumer = Consumer(stream)
            await ledger.small_transactions(10)
            await consumer.wait_for(len(ledger.expected))
            leaders: list[str] = []
            for _ in range(2):
                leader = await leader_of(three, db.id)
                assert leader is not None
                leaders.append(leader)
                writes = asyncio.ensure_future(ledger.small_transactions(30))
                await asyncio.sleep(0.1)
                await kill(three, leader)  # while changes are being written and delivered
                found: list[str] = []

                async def moved(leader: str = leader, found: list[str] = found) -> bool:
                    successor = await leader_of(three, db.id, dead=leader)
                    found[:] = [successor] if successor else []
                    return bool(found)

                took = await until(moved, 10, "capture moving to a live origin")
                await writes
                await consumer.wait_for(len(ledger.expected), timeout=30)
                await start(three, leader)
                print(f"capture moved from {leader} to {found[0]} within {took:.2f}s")
            await ledger.small_transactions(5)
            await consumer.wait_for(len(ledger.expected))
            consumer.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.task

    first_seen: dict[str, dict[str, Any]] = {}
    for event in consumer.received:
        first_seen.setdefault(event["offset"], event)
    offsets = list(first_seen)
    assert offsets == sorted(offsets), "events were delivered out of commit order"
    assert [as_expected(e) for e in first_seen.values()] == ledger.expected
    assert len(set(leaders)) == 2

"""Throughput of one origin against three on the same connection budget, and the time to recover
full throughput after one of three dies.

    .venv/bin/python bench/origins.py [--seconds 4] [--rounds 2] [--clients 24] [--budget 6]

Starts the whole stack with three origins in a temporary directory (the pools' budget `--budget`
connections for the host, divided among the live origins; the host's own budget two more) and runs
two loads through the edge, each `--clients` concurrent HTTP clients for `--seconds`:

  fast  findUnique by id: bound by CPU (edge, origins, load generator, Postgres share 2 cores here)
  held  a view that holds its connection 100 ms: bound by the connection budget

once with three live origins and once with one (the other two stopped cleanly, so the one left holds
the whole budget), alternating which goes first, `--rounds` times. Then recovery: the held load on
three origins, kill -9 of one, completions counted per 100 ms until a 500 ms window is back to 90 %
of the rate before the kill; failed requests are counted throughout (reads should never fail).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "edge")]

from bwdev.stack import Stack, StackConfig  # noqa: E402

SECOND_AND_THIRD = ("origin-2", "origin-3")


def query(model: str, action: str, arguments: dict[str, Any]) -> str:
    selection = {"$scalars": True}
    return json.dumps(
        {"modelName": model, "action": action, "query": {"arguments": arguments, "selection": selection}}
    )


LOADS = {
    "fast": lambda n: query("item", "findUnique", {"where": {"id": n % 1000 + 1}}),
    "held": lambda _n: query("held", "findMany", {}),
}


async def run_load(
    api: httpx.AsyncClient, body: Callable[[int], str], clients: int, seconds: float
) -> tuple[list[float], int]:
    """Completion times of the successful requests, and the number that failed."""
    done: list[float] = []
    failed = 0
    stop = time.monotonic() + seconds

    async def client(k: int) -> None:
        nonlocal failed
        n = k
        while time.monotonic() < stop:
            response = await api.post("/v1/query", content=body(n))
            if response.status_code == 200:
                done.append(time.monotonic())
            else:
                failed += 1
            n += clients

    await asyncio.gather(*(client(k) for k in range(clients)))
    return done, failed


async def live_origins(stack: Stack, origin_id: str) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            stack.origin_urls[origin_id] + "/admin/pool",
            headers={"authorization": f"Bearer {stack.secrets['admin_token']}"},
        )
    return int(response.json()["share"]["origins"])


async def settle(stack: Stack, count: int) -> None:
    """Wait until o1 sees `count` live origins (so it holds its part of the budget)."""
    deadline = time.monotonic() + 20
    while await live_origins(stack, "o1") != count:
        assert time.monotonic() < deadline, "the origins did not settle"
        await asyncio.sleep(0.05)


async def in_thread(work: Callable[[], object]) -> None:
    await asyncio.get_running_loop().run_in_executor(None, work)


async def with_origins(stack: Stack, count: int) -> None:
    running = {s.name for s in stack.services}
    for name in SECOND_AND_THIRD:
        if count == 3 and name not in running:
            await in_thread(lambda name=name: stack.start_service(name))
        if count == 1 and name in running:
            await in_thread(lambda name=name: stack.stop_service(name))
    await settle(stack, count)


async def measure(args: argparse.Namespace, stack: Stack, api: httpx.AsyncClient) -> None:
    results: dict[tuple[str, int], list[float]] = {}
    for round_ in range(1, args.rounds + 1):
        order = (3, 1) if round_ % 2 else (1, 3)
        for count in order:
            await with_origins(stack, count)
            for name, body in LOADS.items():
                await run_load(api, body, args.clients, 0.5)  # warm the pools
                done, failed = await run_load(api, body, args.clients, args.seconds)
                rate = len(done) / args.seconds
                results.setdefault((name, count), []).append(rate)
                print(
                    f"round {round_}: {count} origin(s), {name}: {rate:,.0f} req/s, failed {failed}",
                    flush=True,
                )
    for name in LOADS:
        one = statistics.median(results[(name, 1)])
        three = statistics.median(results[(name, 3)])
        print(f"{name}: 1 origin {one:,.0f} req/s, 3 origins {three:,.0f} req/s, ratio x{three / one:.2f}")


async def recovery(args: argparse.Namespace, stack: Stack, api: httpx.AsyncClient) -> None:
    await with_origins(stack, 3)
    await run_load(api, LOADS["held"], args.clients, 1.0)
    load = asyncio.ensure_future(run_load(api, LOADS["held"], args.clients, 3.0 + args.seconds))
    await asyncio.sleep(3.0)
    killed = time.monotonic()
    await in_thread(lambda: stack.stop_service("origin-2", kill=True))
    done, failed = await load
    before = sum(1 for t in done if killed - 2.0 <= t < killed) / 2.0
    window = 0.5
    recovered = None
    at = killed
    while at + window <= done[-1]:
        rate = sum(1 for t in done if at <= t < at + window) / window
        if rate >= 0.9 * before:
            recovered = at + window - killed
            break
        at += 0.1
    lowest = min(
        sum(1 for t in done if killed + i * 0.1 <= t < killed + (i + 1) * 0.1) / 0.1 for i in range(20)
    )
    text = "not within the run" if recovered is None else f"{recovered:.2f}s"
    print(
        f"recovery (held, kill -9 of o2): before {before:,.0f} req/s, lowest 100 ms after "
        f"{lowest:,.0f} req/s, back to 90 % within {text}, failed requests {failed}",
        flush=True,
    )
    await in_thread(lambda: stack.start_service("origin-2"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--budget", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-bench-origins-") as scratch:
        Path(scratch).chmod(0o755)
        config = StackConfig(
            root=Path(scratch) / "stack",
            origins=3,
            durable=False,
            extra_env={
                "BREAKWATER_POOL_HOST_BUDGET": str(args.budget),
                "BREAKWATER_POOL_PER_DATABASE": str(args.budget),
                "BREAKWATER_HOST_CONNECTION_BUDGET": str(args.budget + 2),
            },
        )
        stack = Stack(config)
        await in_thread(stack.start)  # it runs an event loop of its own
        try:
            made = stack.admin("POST", "/admin/databases", {"name": "bench"})
            conn = await asyncpg.connect(made["postgres_dsn"])
            try:
                await conn.execute("CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL)")
                await conn.execute("INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 1000) g")
                await conn.execute(
                    "CREATE VIEW held AS SELECT 1 AS id, length(pg_catalog.pg_sleep(0.1)::text) AS z"
                )
            finally:
                await conn.close()
            print(
                f"budget {args.budget} connections, {args.clients} clients, {args.seconds}s per load, "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            limits = httpx.Limits(
                max_connections=args.clients * 2, max_keepalive_connections=args.clients * 2
            )
            headers = {"authorization": f"Bearer {made['api_key']}"}
            async with httpx.AsyncClient(
                base_url=stack.edge_url, headers=headers, timeout=60, limits=limits
            ) as api:
                await measure(args, stack, api)
                await recovery(args, stack, api)
            print(f"load average at the end {os.getloadavg()[0]:.1f}")
        finally:
            await in_thread(stack.stop)


if __name__ == "__main__":
    asyncio.run(main())

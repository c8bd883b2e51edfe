"""Latency of the edge's query cache, through the local edge over HTTP, against its own floor.

    .venv/bin/python bench/cache.py [--requests 2000]

Starts the whole stack (real Postgres, origin, edge on the local runtime) in a temporary directory,
then measures sequential requests, one at a time, on one keep-alive connection:
  floor  GET /_bw/health: the edge answers with no authentication and no cache work
  hit    a cached findMany (max-age=3600): authentication, key, tag versions, Cache API match
  swr    the same query with max-age=0,stale-while-revalidate=3600: served stale, refreshed behind
  miss   a findMany that is new every time (distinct `skip`): the origin and Postgres answer
and, in-process (EdgeApp.handle called directly, no HTTP), a hit against the health answer, which
isolates the cache's own work from the HTTP server's. Prints p50/p99 and the hit/floor ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "edge"),
]

from bwdev.stack import Stack, StackConfig  # noqa: E402

QUERY = {
    "modelName": "posts",
    "action": "findMany",
    "query": {"arguments": {"orderBy": [{"id": "asc"}], "take": 10}, "selection": {"$scalars": True}},
}


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


async def measure(
    label: str, n: int, send: Callable[[int], Awaitable[str | None]], expect: str | None
) -> list[float]:
    for i in range(min(50, n)):  # warm-up: connections, imports, caches
        await send(-1 - i)
    samples: list[float] = []
    for i in range(n):
        started = time.perf_counter()
        status = await send(i)
        samples.append((time.perf_counter() - started) * 1000)
        if status != expect:
            raise SystemExit(f"{label}: expected accelerate-cache-status {expect!r}, got {status!r}")
    say(f"{label}: {n} requests")
    return samples


async def over_http(stack: Stack, api_key: str, n: int) -> dict[str, list[float]]:
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    body = json.dumps(QUERY).encode()
    results: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=30) as client:

        async def floor(_: int) -> str | None:
            response = await client.get("/_bw/health")
            return None if response.status_code == 200 else "failed"

        async def query(cache: str, payload: bytes = body) -> str | None:
            response = await client.post(
                "/v1/query", content=payload, headers={**headers, "cache-control": cache}
            )
            if response.status_code != 200:
                raise SystemExit(f"query failed: {response.status_code} {response.text}")
            return response.headers.get("accelerate-cache-status")

        async def hit(_: int) -> str | None:
            return await query("max-age=3600")

        async def swr(_: int) -> str | None:
            return await query("max-age=0,stale-while-revalidate=3600")

        async def miss(i: int) -> str | None:
            fresh = json.loads(body)
            fresh["query"]["arguments"]["skip"] = i + 1_000_000 if i >= 0 else -i
            return await query("max-age=3600", json.dumps(fresh).encode())

        await hit(0)
        await swr(0)
        results["floor"] = await measure("floor", n, floor, None)
        results["hit"] = await measure("hit", n, hit, "ttl")
        results["swr"] = await measure("swr", max(n // 4, 50), swr, "swr")
        results["miss"] = await measure("miss", max(n // 4, 50), miss, "miss")
    return results


async def in_process(stack: Stack, api_key: str, n: int) -> dict[str, list[float]]:
    """The same hit and health answer through EdgeApp.handle, with the local runtime's ports."""
    from bwedge.http import EdgeRequest, Headers
    from edge_local.server import LocalContext, LocalEdge

    local = LocalEdge(stack.env_edge(), None)
    tasks: set[asyncio.Task[Any]] = set()
    ctx = LocalContext(tasks)
    headers = Headers({"authorization": f"Bearer {api_key}", "cache-control": "max-age=3600"})
    body = json.dumps(QUERY).encode()

    async def floor(_: int) -> str | None:
        await local.app.handle(EdgeRequest("GET", "http://edge.test/_bw/health", Headers()), ctx)
        return None

    async def hit(_: int) -> str | None:
        response = await local.app.handle(
            EdgeRequest("POST", "http://edge.test/v1/query", headers, body), ctx
        )
        return response.headers.get("accelerate-cache-status")

    await hit(0)
    try:
        return {
            "floor": await measure("in-process floor", n, floor, None),
            "hit": await measure("in-process hit", n, hit, "ttl"),
        }
    finally:
        await local.origin.aclose()


def report(title: str, results: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"{'':8}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}")
    for label, samples in results.items():
        p50, p99 = percentiles(samples)
        print(f"{label:8}{len(samples):>7}{p50:>10.3f}{p99:>10.3f}")
    floor50, floor99 = percentiles(results["floor"])
    hit50, hit99 = percentiles(results["hit"])
    print(f"hit/floor: p50 {hit50 / floor50:.2f}x, p99 {hit99 / floor99:.2f}x")
    if "miss" in results:
        miss50, _ = percentiles(results["miss"])
        print(f"miss/hit:  p50 {miss50 / hit50:.2f}x")


async def seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL, views int NOT NULL)"
        )
        await conn.executemany(
            "INSERT INTO posts (title, views) VALUES ($1, $2)", [(f"post {i}", i * 7) for i in range(20)]
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="hit and floor samples (swr, miss: a quarter)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-bench-cache-") as tmp:
        stack = Stack(StackConfig(root=Path(tmp), durable=False), progress=say)
        stack.start()
        try:
            made = stack.admin("POST", "/admin/databases", {"name": "bench"})
            asyncio.run(seed(made["postgres_dsn"]))
            http = asyncio.run(over_http(stack, made["api_key"], args.requests))
            local = asyncio.run(in_process(stack, made["api_key"], args.requests))
        finally:
            stack.stop()
    report("through the local edge over HTTP (uvicorn, httpx, one connection)", http)
    report("in-process (EdgeApp.handle, local runtime ports)", local)


if __name__ == "__main__":
    main()

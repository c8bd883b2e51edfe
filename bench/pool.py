"""A traffic spike through the origin's pool, against asyncpg's own pool with as many connections.

    .venv/bin/python bench/pool.py [--requests 2000] [--connections 20] [--rounds 3]

Starts a Postgres instance (max_connections 100) and fires `--requests` concurrent requests at it,
each one borrowing a connection, running `SELECT $1::int + 1` and giving it back:

  origin pool   `Tenants.connection()` with a 20-connection budget (per database and per host)
  bounded       `Tenants.serving()`, what the fronts use: the same pool, each request's work under its
                database's limits (a deadline, a Stop scope, the result meter counting bytes read)
  asyncpg.Pool  `asyncpg.create_pool(min_size=0, max_size=20)`, `pool.acquire()`
  no pool       a connection of its own per request (what the pool saves a database from)

Each spike starts with no connection open (cold: the pool opens its connections under the spike),
then runs again on the now warm pool. Latency is per request, from the spike's start to its answer,
waiting in line included. Prints throughput and p50/p99, and the origin pool's ratio to asyncpg's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import asyncpg

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "edge")]

from hosts.postgres import PostgresInstance  # noqa: E402
from hosts.service_user import service_user  # noqa: E402
from origin.control.store import Database  # noqa: E402
from origin.limits import Limits, LimitsBook  # noqa: E402
from origin.pool.settings import PoolSettings  # noqa: E402
from origin.tenants import Tenants  # noqa: E402


class OneDatabase:
    """The pool reads a database's DSN and host from the control plane; here there is one."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def database_by_id(self, database_id: str) -> Database:
        return Database(
            database_id, "ws", database_id, "h1", "i", "shared", self.dsn, dt.datetime.now(dt.UTC)
        )


Borrow = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


async def spike(borrow: Borrow, requests: int) -> tuple[float, list[float], int]:
    """Throughput (requests/s), per-request latencies, failures."""
    started = time.perf_counter()
    latencies: list[float] = []
    failures = 0

    async def one(n: int) -> None:
        nonlocal failures
        try:
            async with borrow() as conn:
                assert await conn.fetchval("SELECT $1::int + 1", n) == n + 1
        except (asyncpg.PostgresError, OSError):
            failures += 1
            return
        latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one(n) for n in range(requests)))
    return requests / (time.perf_counter() - started), latencies, failures


async def one_at_a_time(borrow: Borrow, requests: int) -> float:
    """Median seconds per request, one after another on a warm pool (no waiting in line)."""
    took = []
    for n in range(requests):
        started = time.perf_counter()
        async with borrow() as conn:
            await conn.fetchval("SELECT $1::int + 1", n)
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def report(
    label: str, result: tuple[float, list[float], int], base: tuple[float, list[float], int] | None
) -> None:
    throughput, latencies, failures = result
    p50 = statistics.median(latencies or [0.0]) * 1000
    text = (
        f"  {label:<28} {throughput:>8,.0f} req/s   p50 {p50:>8.1f} ms   p99 {p99(latencies) * 1000:>8.1f} ms"
    )
    text += f"   failed {failures}"
    if base is not None:
        tail = p99(latencies) / p99(base[1])
        text += f"   throughput x{throughput / base[0]:.2f}, p99 x{tail:.2f} of asyncpg.Pool"
    print(text, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    c, k = args.connections, args.requests

    with tempfile.TemporaryDirectory(prefix="bw-bench-pool-") as scratch:
        Path(scratch).chmod(0o755)
        instance = PostgresInstance(Path(scratch) / "pg", service_user())
        instance.create(durable=False)
        instance.start()
        try:
            dsn = instance.dsn()
            print(f"{k} concurrent requests, {c} connections, Postgres max_connections 100", flush=True)
            ratios: dict[str, list[tuple[float, float]]] = {}
            bounded_ratios: dict[str, list[tuple[float, float]]] = {}
            for round_ in range(1, args.rounds + 1):
                print(f"round {round_}", flush=True)
                settings = PoolSettings(per_database=c, per_host=c, wait_seconds=120)
                # The whole spike may wait in line (the default line is 1,000 requests per database).
                limits = LimitsBook(None, Limits(waiting_requests=k))
                tenants = Tenants(OneDatabase(dsn), settings, limits=limits)  # type: ignore[arg-type]
                pool = await asyncpg.create_pool(dsn, min_size=0, max_size=c)
                try:
                    for phase in ("cold", "warm"):
                        # Alternate who goes first, so neither always meets a warmer machine.
                        if round_ % 2:
                            base = await spike(pool.acquire, k)
                            ours = await spike(functools.partial(tenants.connection, "db"), k)
                            bounded = await spike(functools.partial(tenants.serving, "db"), k)
                        else:
                            bounded = await spike(functools.partial(tenants.serving, "db"), k)
                            ours = await spike(functools.partial(tenants.connection, "db"), k)
                            base = await spike(pool.acquire, k)
                        report(f"asyncpg.Pool, {phase}", base, None)
                        report(f"origin pool, {phase}", ours, base)
                        report(f"origin pool bounded, {phase}", bounded, base)
                        ratios.setdefault(phase, []).append((ours[0] / base[0], p99(ours[1]) / p99(base[1])))
                        bounded_ratios.setdefault(phase, []).append(
                            (bounded[0] / base[0], p99(bounded[1]) / p99(base[1]))
                        )
                finally:
                    await pool.close()
                    await tenants.close()

                @contextlib.asynccontextmanager
                async def own_connection() -> AsyncIterator[asyncpg.Connection]:
                    conn = await asyncpg.connect(dsn)
                    try:
                        yield conn
                    finally:
                        await conn.close()

                report("no pool (connect each)", await spike(own_connection, k), None)
            settings = PoolSettings(per_database=c, per_host=c, wait_seconds=120)
            tenants = Tenants(OneDatabase(dsn), settings)  # type: ignore[arg-type]
            try:
                plain, bounded_each = [], []
                for _ in range(args.rounds * 2):  # alternating, so neither meets a quieter machine
                    plain.append(await one_at_a_time(functools.partial(tenants.connection, "db"), 2000))
                    bounded_each.append(await one_at_a_time(functools.partial(tenants.serving, "db"), 2000))
            finally:
                await tenants.close()
            extra = (statistics.median(bounded_each) - statistics.median(plain)) * 1e6
            print(
                f"one request at a time: connection() {statistics.median(plain) * 1e6:.1f} us, "
                f"serving() {statistics.median(bounded_each) * 1e6:.1f} us: the bounds cost {extra:+.1f} us",
                flush=True,
            )
            for label, table in (("origin pool", ratios), ("origin pool bounded", bounded_ratios)):
                print(f"median over rounds, {label} / asyncpg.Pool:", flush=True)
                for phase, found in table.items():
                    throughput = statistics.median(r[0] for r in found)
                    tail = statistics.median(r[1] for r in found)
                    print(f"  {phase}: throughput x{throughput:.2f}, p99 x{tail:.2f}", flush=True)
        finally:
            instance.stop()


if __name__ == "__main__":
    asyncio.run(main())

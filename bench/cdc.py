"""Change events: commit-to-consumer latency and sustained throughput through the local stack, beside
the floor — the same writes read straight off a logical replication slot (pgoutput over our wire
client, no decoding to events, no edge, no WebSocket) — measured in the same run on this machine.

Then the time events take to flow again after the edge or the origin restarts: the service is stopped,
a row is committed while it is down, and the clock runs from the service answering its health check
again to the consumer holding that row's event (the capture reader's pushes and the client's
reconnects retry meanwhile).

Also measures what idle captured databases cost on a shared cluster (every slot's walsender reads the
whole cluster's WAL): the active database's throughput and the walsenders' CPU with K idle captured
neighbours, against K = 0.

    .venv/bin/python bench/cdc.py [--latency-writes 300] [--rows 20000] [--restarts 3] [--down 1.0]
                                  [--neighbours 6] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "edge")]

import asyncpg  # noqa: E402

from breakwater import Client  # noqa: E402
from bwdev.stack import Stack, StackConfig  # noqa: E402
from hosts.postgres import PostgresInstance  # noqa: E402
from hosts.service_user import service_user  # noqa: E402
from origin.capture import pgoutput  # noqa: E402
from origin.capture.pgwire import Connection  # noqa: E402

TABLE = "CREATE TABLE items (id int PRIMARY KEY, body text NOT NULL)"


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Writer:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.next_id = 1

    async def one(self) -> tuple[int, float]:
        """One committed insert; the clock starts when the (autocommit) statement is sent, because a
        walsender may stream the commit before the client has read the server's answer."""
        key = self.next_id
        self.next_id += 1
        sent = time.perf_counter()
        await self.conn.execute("INSERT INTO items VALUES ($1, 'x')", key)
        return key, sent

    async def many(self, rows: int, per_transaction: int) -> float:
        start = time.perf_counter()
        for _ in range(rows // per_transaction):
            first = self.next_id
            self.next_id += per_transaction
            await self.conn.execute(
                "INSERT INTO items SELECT g, 'payload' FROM generate_series($1::int, $2::int) g",
                first,
                first + per_transaction - 1,
            )
        return start


class Arrivals:
    """id → when a consumer saw it, and a way to wait for a given id."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self._waiters: dict[int, asyncio.Future[float]] = {}

    def arrived(self, key: int) -> None:
        now = time.perf_counter()
        self.seen.setdefault(key, now)
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)

    async def wait(self, key: int, timeout: float = 30) -> float:
        if key in self.seen:
            return self.seen[key]
        future = asyncio.get_running_loop().create_future()
        self._waiters[key] = future
        return await asyncio.wait_for(future, timeout)


async def measure(
    writer: Writer,
    arrivals: Arrivals,
    latency_writes: int,
    rows: int,
    pids: dict[str, int] | None = None,
    profile: Path | None = None,
) -> dict[str, float]:
    """Latency of single writes, then throughput of `rows`; with `pids` (name → process), also the
    CPU each of those processes spent per event during the throughput phase, and with `profile` their
    py-spy profiles of it (collapsed stacks, `<name>.txt` in that directory)."""
    for _ in range(20):  # warm up the path
        key, _ = await writer.one()
        await arrivals.wait(key)
    latencies = []
    for _ in range(latency_writes):
        key, committed = await writer.one()
        latencies.append((await arrivals.wait(key)) - committed)
    cpu_before = {name: process_cpu([pid]) for name, pid in (pids or {}).items()}
    profilers = await asyncio.to_thread(start_profilers, pids or {}, profile) if profile else []
    start = await writer.many(rows, 100)
    last = writer.next_id - 1
    finished = await arrivals.wait(last, timeout=300)
    await asyncio.to_thread(stop_profilers, profilers)
    found = {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "events_per_s": rows / (finished - start),
    }
    for name, pid in (pids or {}).items():
        found[f"{name}_cpu_us_per_event"] = (process_cpu([pid]) - cpu_before[name]) / rows * 1e6
    return found


async def until_flowing(writer: Writer, arrivals: Arrivals) -> None:
    """Write rows until one reaches the consumer: its stream is open and capture is on (a row
    committed before that is not delivered, by design)."""
    while True:
        key, _ = await writer.one()
        try:
            await arrivals.wait(key, timeout=2)
            return
        except TimeoutError:
            continue


async def recovery(
    stack: Stack, writer: Writer, arrivals: Arrivals, service: str, rounds: int, down: float
) -> list[float]:
    """Seconds from `service` being back (healthy) to the consumer holding an event committed while
    it was down; 0 when the event arrived before the health check answered."""
    found = []
    for _ in range(rounds):
        await asyncio.to_thread(stack.stop_service, service)
        key, _ = await writer.one()
        await asyncio.sleep(down)
        await asyncio.to_thread(stack.start_service, service)
        back = time.perf_counter()
        found.append(max(0.0, await arrivals.wait(key, timeout=120) - back))
    return found


async def floor_reader(dsn: str, slot: str, publication: str, arrivals: Arrivals) -> None:
    """Read the slot as Postgres streams it and note each insert's id: nothing more."""
    conn = await Connection.connect(dsn)
    await conn.start_replication(
        f'START_REPLICATION SLOT "{slot}" LOGICAL 0/0 '
        f"(proto_version '1', publication_names '{publication}')"
    )
    confirmed = 0
    try:
        while True:
            data = await conn.read_copy()
            if data is None:
                return
            if data[:1] == b"k":
                if data[17]:
                    conn.send_status(confirmed, now_us=int(time.time() * 1e6))
                continue
            message = pgoutput.parse(data[25:])
            if isinstance(message, pgoutput.Insert):
                arrivals.arrived(int(str(message.new[0])))
            elif isinstance(message, pgoutput.Commit):
                confirmed = message.end_lsn
                conn.send_status(confirmed, now_us=int(time.time() * 1e6))
    finally:
        conn.abort()


async def stack_consumer(url: str, arrivals: Arrivals) -> None:
    async with Client(url) as client, client.items.stream(auto_ack=True, window=5000) as events:
        async for event in events:
            arrivals.arrived(int(event["created"]["id"]))


def start_profilers(pids: dict[str, int], directory: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy (in this venv, or on PATH) sampling each process until stopped."""
    spy = shutil.which(
        "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if spy is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    directory.mkdir(parents=True, exist_ok=True)
    found = []
    for name, pid in pids.items():
        argv = [spy, "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--nonblocking"]
        argv += ["--output", str(directory / f"{name}.txt")]
        found.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)  # attached before the work starts
    return found


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for process in profilers:
        process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    for process in profilers:
        process.wait(timeout=60)


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes `pids` have used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bw-bench-cdc-") as tmp:
        stack = Stack(StackConfig(root=Path(tmp) / "stack", durable=False), progress=say)
        await asyncio.to_thread(stack.start)
        try:
            shared = PostgresInstance(stack.hosts_root / "instances" / "shared-1", service_user())
            made = stack.admin("POST", "/admin/databases", {"name": "bench"})
            db_name = made["postgres_dsn"].rsplit("/", 1)[1]
            tenant = await asyncpg.connect(made["postgres_dsn"])
            # The stack runs Postgres with fsync off; commits still flush WAL at once, as a durable
            # cluster does (asynchronous commit would hold WAL back from the walsender for ~200 ms).
            await tenant.execute("SET synchronous_commit = on")
            await tenant.execute(TABLE)
            writer = Writer(tenant)

            say("floor: reading a slot directly")
            admin = await asyncpg.connect(shared.dsn(db_name))
            await admin.execute("CREATE PUBLICATION bench_floor FOR ALL TABLES")
            await admin.execute("SELECT pg_create_logical_replication_slot('bench_floor', 'pgoutput')")
            arrivals = Arrivals()
            reader = asyncio.ensure_future(
                floor_reader(shared.dsn(db_name), "bench_floor", "bench_floor", arrivals)
            )
            results["floor"] = await measure(
                writer, arrivals, args.latency_writes, args.rows, {"bench": os.getpid()}
            )
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await asyncio.sleep(0.2)
            await admin.execute("SELECT pg_drop_replication_slot('bench_floor')")
            await admin.execute("DROP PUBLICATION bench_floor")

            say("through the stack: origin capture → edge queue → WebSocket consumer")
            arrivals = Arrivals()
            consumer = asyncio.ensure_future(stack_consumer(made["url"], arrivals))
            await until_flowing(writer, arrivals)
            watched = {s.name: s.process.pid for s in stack.services if s.name in ("origin", "edge")}
            watched["bench"] = os.getpid()  # the consumer (and the writer)
            results["stack"] = await measure(
                writer, arrivals, args.latency_writes, args.rows, watched, args.profile
            )

            for service in ("edge", "origin"):
                say(f"restarting the {service} {args.restarts} times ({args.down:.1f} s down each)")
                results[f"{service}_restart_s"] = await recovery(
                    stack, writer, arrivals, service, args.restarts, args.down
                )

            say(f"shared cluster: {args.neighbours} idle captured neighbours")
            neighbours = []
            for i in range(args.neighbours):
                other = stack.admin("POST", "/admin/databases", {"name": f"idle{i}"})
                conn = await asyncpg.connect(other["postgres_dsn"])
                await conn.execute(TABLE)
                await conn.close()
                async with Client(other["url"]) as client, client.items.stream():
                    pass  # turns capture on for it
                neighbours.append(other)
            await asyncio.sleep(1.0)
            pg = await asyncpg.connect(shared.dsn())
            pids = [int(r["pid"]) for r in await pg.fetch("SELECT pid FROM pg_stat_replication")]
            idle_before = process_cpu(pids)
            await asyncio.sleep(5.0)
            results["idle_walsender_cpu_s_per_min"] = (process_cpu(pids) - idle_before) * 12
            before = process_cpu(pids)
            results["with_neighbours"] = await measure(writer, arrivals, args.latency_writes // 3, args.rows)
            results["with_neighbours"]["walsender_cpu_s"] = process_cpu(pids) - before
            results["with_neighbours"]["walsenders"] = len(pids)
            await pg.close()
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            await tenant.close()
            await admin.close()
        finally:
            await asyncio.to_thread(stack.stop)
    results["load_average_after"] = os.getloadavg()
    return results


def report(results: dict[str, Any]) -> None:
    floor, through, shared = results["floor"], results["stack"], results["with_neighbours"]
    print("change events: commit → consumer (same machine, same run)")
    before, after = results["load_average_before"], results["load_average_after"]
    print(
        f"load average (1, 5, 15 min): {before[0]:.1f} {before[1]:.1f} {before[2]:.1f} before, "
        f"{after[0]:.1f} {after[1]:.1f} {after[2]:.1f} after"
    )
    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'events/s':>12}")
    for label, row in (("slot read directly (floor)", floor), ("through the local stack", through)):
        print(f"{label:28}{row['p50_ms']:10.2f}{row['p99_ms']:10.2f}{row['events_per_s']:12.0f}")
    ratios = (
        through["p50_ms"] / floor["p50_ms"],
        through["p99_ms"] / floor["p99_ms"],
        through["events_per_s"] / floor["events_per_s"],
    )
    print(f"{'stack / floor':28}{ratios[0]:9.1f}x{ratios[1]:9.1f}x{ratios[2]:11.2f}x")
    spent = [
        (k.removesuffix("_cpu_us_per_event"), v)
        for k, v in through.items()
        if k.endswith("_cpu_us_per_event")
    ]
    if spent:
        floor_bench = floor.get("bench_cpu_us_per_event", 0.0)
        print(
            "CPU per event in the throughput phase: "
            + ", ".join(f"{name} {us:.1f} µs" for name, us in spent)
            + f" (the floor's bench process: {floor_bench:.1f} µs)"
        )
    for service in ("edge", "origin"):
        times = results.get(f"{service}_restart_s") or []
        if times:
            median, worst = statistics.median(times) * 1000, max(times) * 1000
            label = f"{service} restart: back → first event"
            print(f"{label:40} median {median:6.0f} ms   max {worst:6.0f} ms   (n={len(times)})")
    label = f"stack, {shared['walsenders'] - 1} idle neighbours"
    print(f"{label:28}{shared['p50_ms']:10.2f}{shared['p99_ms']:10.2f}{shared['events_per_s']:12.0f}")
    print(
        f"walsenders: {shared['walsender_cpu_s']:.2f} CPU s for the whole run with neighbours; "
        f"idle: {results['idle_walsender_cpu_s_per_min']:.3f} CPU s per minute for all {shared['walsenders']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-writes", type=int, default=300)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--down", type=float, default=1.0, help="seconds a restarted service stays down")
    parser.add_argument("--neighbours", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write py-spy profiles of the stack's throughput phase here",
    )
    args = parser.parse_args()
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)


if __name__ == "__main__":
    main()

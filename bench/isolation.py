"""A victim tenant's latency while its neighbours flood the same host, against the victim alone, same run.

    .venv/bin/python bench/isolation.py [--seconds 20] [--flood 2000] [--hogs 4] [--budget 20]

Starts the whole stack in a temporary directory (host budget `--budget` connections, 10 per database)
and, all through the local edge:

  victim     `--victim-concurrency` loops of a one-row findMany on its own database, measured
  flooder    one database sending `--flood` concurrent requests, each answered one followed by the next:
             slow raw queries (`pg_sleep(0.5)`), and every tenth an escape attempt
             (`SET statement_timeout = 0` then `pg_sleep(30)` in one batch); after a 429 it waits
             what Retry-After says, jittered (0.5-1.5x), as well-behaved clients do, or not at all
             with `--ignore-retry-after`
  hogs       `--hogs` databases each keeping `--hog-transactions` interactive transactions open (the
             longest allowed, a statement in each every second), opening another when one ends

First the victim runs alone for `--seconds`, then the neighbours start, and after `--warmup` seconds the
victim is measured again for `--seconds` while they go on. Prints the victim's p50/p99 and failures in
both phases and their ratio, what the neighbours got back, and the most tenant sessions Postgres saw.
The flood runs in another process, so the victim's timings are not its own event loop's queue.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "edge")]

from bwdev.stack import Stack, StackConfig  # noqa: E402
from hosts.postgres import PostgresInstance  # noqa: E402
from hosts.service_user import service_user  # noqa: E402

FIND = {
    "modelName": "notes",
    "action": "findMany",
    "query": {"arguments": {}, "selection": {"$scalars": True}},
}


def raw(sql: str, action: str = "queryRaw") -> dict[str, Any]:
    return {"action": action, "query": {"arguments": {"query": sql, "parameters": []}, "selection": {}}}


SLOW = raw("SELECT pg_sleep(0.5)")
ESCAPE = {"batch": [raw("SET statement_timeout = 0", "executeRaw"), raw("SELECT pg_sleep(30)")]}


UNEXPECTED: list[str] = []  # the first few answers that are no limit's (5xx without a code of ours)


def answer_code(status: int, payload: Any) -> str:
    if status == 200:
        return "200"
    code = payload.get("code") if isinstance(payload, dict) else None
    if code in (None, "P6000") and len(UNEXPECTED) < 5:
        UNEXPECTED.append(f"{status} {payload}")
    return str(code or status)


# --- the neighbours (another process) ------------------------------------------------------------


async def neighbours(
    edge: str, flooder: str, hogs: list[str], args: dict[str, Any], stop: EventType
) -> dict[str, Any]:
    flood_answers: collections.Counter[str] = collections.Counter()
    tx_ends: collections.Counter[str] = collections.Counter()
    started = {"transactions": 0}
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=4)  # under the edge's 5 s keep-alive
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(edge, connector=connector, timeout=timeout) as http:

        async def post(key: str, path: str, body: Any) -> tuple[int, Any, float]:
            async with http.post(path, json=body, headers={"authorization": f"Bearer {key}"}) as response:
                retry_after = float(response.headers.get("retry-after") or 1)
                try:
                    return response.status, await response.json(content_type=None), retry_after
                except ValueError:
                    return response.status, None, retry_after

        async def flood_slot(n: int) -> None:
            body = ESCAPE if n % 10 == 0 else SLOW
            while not stop.is_set():
                try:
                    status, payload, retry_after = await post(flooder, "/v1/query", body)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    flood_answers[type(exc).__name__] += 1
                    await asyncio.sleep(0.1)
                    continue
                flood_answers[answer_code(status, payload)] += 1
                if status == 429 and not args["ignore_retry_after"]:
                    await asyncio.sleep(retry_after * random.uniform(0.5, 1.5))

        async def hog_slot(key: str) -> None:
            while not stop.is_set():
                try:
                    status, payload, _ = await post(
                        key, "/v1/transaction/start", {"timeout": 15_000, "maxWait": 2000}
                    )
                    if status != 200:
                        tx_ends["not started: " + answer_code(status, payload)] += 1
                        await asyncio.sleep(0.05)
                        continue
                    started["transactions"] += 1
                    tx = payload["id"]
                    until = time.monotonic() + 14
                    while not stop.is_set() and time.monotonic() < until:
                        status, payload, _ = await post(
                            key, f"/v1/transaction/{tx}/query", raw("SELECT 1 AS one")
                        )
                        if status != 200:
                            tx_ends[answer_code(status, payload)] += 1
                            break
                        await asyncio.sleep(1)
                    else:
                        await post(key, f"/v1/transaction/{tx}/rollback", {})
                        tx_ends["rolled back by the hog"] += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    tx_ends[type(exc).__name__] += 1

        slots = [asyncio.create_task(flood_slot(n)) for n in range(args["flood"])]
        slots += [asyncio.create_task(hog_slot(key)) for key in hogs for _ in range(args["hog_transactions"])]
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for slot in slots:
            slot.cancel()
        await asyncio.gather(*slots, return_exceptions=True)
    return {
        "flood": dict(flood_answers),
        "transactions": started["transactions"],
        "ends": dict(tx_ends),
        "unexpected": UNEXPECTED,
    }


def neighbours_process(
    edge: str, flooder: str, hogs: list[str], args: dict[str, Any], stop: EventType, out: Any
) -> None:
    out.put(asyncio.run(neighbours(edge, flooder, hogs, args, stop)))


# --- the victim (this process) -------------------------------------------------------------------


async def victim(
    edge: str, key: str, seconds: float, concurrency: int
) -> tuple[list[float], collections.Counter[str]]:
    latencies: list[float] = []
    failures: collections.Counter[str] = collections.Counter()
    until = time.monotonic() + seconds
    async with aiohttp.ClientSession(edge, timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def loop() -> None:
            while time.monotonic() < until:
                began = time.perf_counter()
                try:
                    async with http.post(
                        "/v1/query", json=FIND, headers={"authorization": f"Bearer {key}"}
                    ) as response:
                        payload = await response.json(content_type=None)
                        status = response.status
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    failures[type(exc).__name__] += 1
                    continue
                if status == 200 and payload == {"data": [{"id": 1, "body": "hi"}]}:
                    latencies.append(time.perf_counter() - began)
                else:
                    failures[answer_code(status, payload)] += 1

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return latencies, failures


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process (and of its children it has reaped), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return used / TICK


def postgres_cpu(postmaster: int) -> float:
    """A Postgres instance: the postmaster with its reaped backends, plus the live ones."""
    total = cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == postmaster:
                total += cpu_seconds(int(entry.name))
    return total


def cpu_snapshot(pids: dict[str, int], postmaster: int) -> dict[str, float]:
    snapshot = {name: cpu_seconds(pid) for name, pid in pids.items()}
    snapshot["postgres"] = postgres_cpu(postmaster)
    return snapshot


def cpu_line(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    parts = [f"{name} {(after[name] - before[name]) / seconds:.2f}" for name in after]
    return "cores busy: " + ", ".join(parts)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def summary(label: str, latencies: list[float], failures: collections.Counter[str]) -> str:
    p50 = statistics.median(latencies or [0.0]) * 1000
    p99 = percentile(latencies, 0.99) * 1000
    failed = sum(failures.values())
    detail = f" {dict(failures)}" if failed else ""
    figures = f"n={len(latencies):>6}   p50 {p50:7.2f} ms   p99 {p99:8.2f} ms"
    return f"  {label:<26} {figures}   failed {failed}{detail}"


async def tenant_sessions(shared: PostgresInstance) -> int:
    conn = await asyncpg.connect(shared.dsn())
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND usename LIKE 'u\\_%'"
            )
        )
    finally:
        await conn.close()


async def seeded(stack: Stack, prefix: str) -> dict[str, Any]:
    made = stack.admin("POST", "/admin/databases", {"name": f"{prefix}-{secrets.token_hex(3)}"})
    conn = await asyncpg.connect(made["postgres_dsn"])
    try:
        await conn.execute(
            "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('hi')"
        )
    finally:
        await conn.close()
    return made


async def run(stack: Stack, args: argparse.Namespace, progress: Callable[[str], None]) -> None:
    victim_db = await seeded(stack, "victim")
    flooder = await seeded(stack, "flooder")
    hogs = [await seeded(stack, f"hog{i}") for i in range(args.hogs)]
    shared = PostgresInstance(stack.hosts_root / "instances" / "shared-1", service_user())
    edge = stack.edge_url

    await victim(edge, victim_db["api_key"], 2, args.victim_concurrency)  # warm-up: its pool opens
    pids = {s.name: s.process.pid for s in stack.services}
    pids["bench"] = os.getpid()
    postmaster = shared.pid()
    assert postmaster is not None
    progress(f"victim alone for {args.seconds:g}s")
    before = cpu_snapshot(pids, postmaster)
    quiet = await victim(edge, victim_db["api_key"], args.seconds, args.victim_concurrency)
    quiet_cpu = cpu_line(before, cpu_snapshot(pids, postmaster), args.seconds)

    stop = multiprocessing.get_context("spawn").Event()
    out = multiprocessing.get_context("spawn").Queue()
    settings = {
        "flood": args.flood,
        "hog_transactions": args.hog_transactions,
        "ignore_retry_after": args.ignore_retry_after,
    }
    process = multiprocessing.get_context("spawn").Process(
        target=neighbours_process,
        args=(edge, flooder["api_key"], [h["api_key"] for h in hogs], settings, stop, out),
    )
    process.start()
    assert process.pid is not None
    pids["neighbours"] = process.pid
    peak = 0
    watching = True

    async def watch() -> None:
        nonlocal peak
        while watching:
            peak = max(peak, await tenant_sessions(shared))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        progress(f"neighbours flooding; measuring after {args.warmup:g}s")
        await asyncio.sleep(args.warmup)
        before = cpu_snapshot(pids, postmaster)
        flooded = await victim(edge, victim_db["api_key"], args.seconds, args.victim_concurrency)
        flood_cpu = cpu_line(before, cpu_snapshot(pids, postmaster), args.seconds)
    finally:
        stop.set()
        got = await asyncio.to_thread(out.get, True, 180)
        process.join(30)
        watching = False
        await watcher
    load = os.getloadavg()
    print(
        f"{args.flood} concurrent flood requests, {args.hogs} hogs x {args.hog_transactions} transactions, "
        f"host budget {args.budget}, 10 per database; load average {load[0]:.1f}",
        flush=True,
    )
    print(summary("victim alone", *quiet), flush=True)
    print(summary("victim, neighbours flood", *flooded), flush=True)
    p50_ratio = statistics.median(flooded[0] or [0.0]) / statistics.median(quiet[0] or [1.0])
    p99_ratio = percentile(flooded[0], 0.99) / percentile(quiet[0], 0.99)
    print(f"  flooded / alone: p50 x{p50_ratio:.2f}, p99 x{p99_ratio:.2f}", flush=True)
    print(f"  flooder's answers: {json.dumps(got['flood'], sort_keys=True)}", flush=True)
    ends = json.dumps(got["ends"], sort_keys=True)
    print(f"  hogs: {got['transactions']} transactions opened; ended by {ends}", flush=True)
    for answer in got["unexpected"] + UNEXPECTED:
        print(f"  unexpected answer: {answer[:300]}", flush=True)
    print(f"  most tenant sessions Postgres saw: {peak} (budget {args.budget})", flush=True)
    print(f"  alone: {quiet_cpu}", flush=True)
    print(f"  flood: {flood_cpu}", flush=True)
    pool = stack.admin("GET", "/admin/pool")
    mine = {victim_db["database"]["id"]: "victim", flooder["database"]["id"]: "flooder"}
    mine.update({h["database"]["id"]: f"hog{i}" for i, h in enumerate(hogs)})
    for figures in pool["databases"]:
        name = mine.get(figures["database_id"])
        if name:
            keys = ("acquired", "timeouts", "refused", "reclaimed", "opened", "wait_ms_max")
            print(f"  pool {name:<8} " + ", ".join(f"{k} {figures[k]}" for k in keys), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--flood", type=int, default=2000)
    parser.add_argument("--hogs", type=int, default=4)
    parser.add_argument("--hog-transactions", type=int, default=10)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--victim-concurrency", type=int, default=2)
    parser.add_argument("--ignore-retry-after", action="store_true", help="the flood retries a 429 at once")
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory (logs) afterwards")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bw-bench-isolation-"))
    root.chmod(0o755)
    stack = Stack(
        StackConfig(
            root=root / "stack",
            durable=False,
            extra_env={
                "BREAKWATER_POOL_HOST_BUDGET": str(args.budget),
                "BREAKWATER_POOL_PER_DATABASE": "10",
                "BREAKWATER_HOSTS_PAUSE_AFTER": "0",
                "BREAKWATER_HOSTS_HIBERNATE_AFTER": "0",
            },
        ),
        progress=lambda message: print(f"stack: {message}", flush=True),
    )
    stack.start()
    try:
        asyncio.run(run(stack, args, lambda message: print(message, flush=True)))
    finally:
        stack.stop()
        if args.keep:
            print(f"stack directory kept: {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

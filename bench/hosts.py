"""Scale to zero, measured: resume, hibernate, provision and density of the host agent.

    .venv/bin/python bench/hosts.py [--root DIR] [--iterations 200] [--provisions 20]
                                    [--dedicated auto|N] [--shared N] [--freezer auto|cgroup2|cgroup1|signals]

Runs the host agent as its own process (`python -m hosts`, as in production) with its root on the
disk under --root (default: the system temp dir, not tmpfs), and talks to tenant databases through
its wake-on-connect proxy with the tenants' own credentials, as the origin does. Prints, each against
a baseline measured in the same run:

  resume, pooled     SELECT 1 on an open connection to a paused instance  vs  a running instance
  resume, new conn   connect + SELECT 1 to a paused instance              vs  a running instance
  resume, mechanism  thaw + SELECT 1 straight at the instance (no proxy)   vs  SELECT 1 straight at it
  hibernated         connect + SELECT 1 to a stopped instance              vs  a running instance
  provision          provision + connect + SELECT 1, shared and dedicated, with a spare ready and
                     without (cold)                                        vs  initdb + start + SELECT 1
  density            N idle dedicated instances and M shared databases: memory (MemAvailable drop and
                     the processes' PSS), disk, instances per GiB; N is chosen from free memory, the
                     SysV shared-memory segment limit, free PIDs and free disk unless given.

One file over 400 lines on purpose: a benchmark is one script, its measurements sharing one agent
process and one way of printing ratios against their baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "edge")]

from hosts import freezer, resources  # noqa: E402
from hosts.ports import free_port  # noqa: E402
from hosts.postgres import PostgresInstance  # noqa: E402
from hosts.service_user import service_user  # noqa: E402

GIB_KB = 1024 * 1024
SPARES = 2


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 3),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "mean": round(statistics.fmean(ordered) * 1000, 3),
        "n": len(ordered),
    }


def row(label: str, found: dict[str, float], base: dict[str, float] | None = None, unit: str = "ms") -> None:
    text = (
        f"  {label:<44} p50 {found['p50']:>9.3f} {unit}   p99 {found['p99']:>9.3f} {unit}   (n={found['n']})"
    )
    if base is not None:
        text += f"   x{found['p50'] / base['p50']:.2f} p50, x{found['p99'] / base['p99']:.2f} p99 of baseline"
    print(text, flush=True)


class AgentProcess:
    """The host agent as a subprocess, driven over its HTTP API."""

    def __init__(self, root: Path, freezer_kind: str) -> None:
        self.root = root
        self.freezer_kind = freezer_kind
        self.port = free_port()
        self.token = secrets.token_urlsafe(16)
        self.log = open(root.parent / "agent.log", "ab")  # closed in stop()
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"authorization": f"Bearer {self.token}"},
            timeout=300,
        )

    async def start(self, spares: int) -> dict[str, Any]:
        """Start (or restart: instances outlive the agent) with `spares` databases made ahead."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKWATER_")}
        env.update(
            PYTHONPATH=os.pathsep.join([str(PROJECT / "edge"), str(PROJECT)]),
            BREAKWATER_HOSTS_ROOT=str(self.root),
            BREAKWATER_HOSTS_TOKEN=self.token,
            BREAKWATER_PG_FAST="1",
            BREAKWATER_HOSTS_PAUSE_AFTER="0",
            BREAKWATER_HOSTS_HIBERNATE_AFTER="0",
            BREAKWATER_HOSTS_FREEZER=self.freezer_kind,
            BREAKWATER_HOSTS_SPARES=str(spares),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hosts", "--port", str(self.port)],
            env=env,
            cwd=PROJECT,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                health = await self.http.get("/health")
                if health.status_code == 200:
                    found: dict[str, Any] = health.json()
                    return found
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the host agent did not start; see {self.log.name}")
            await asyncio.sleep(0.05)

    async def provision(self, placement: str) -> tuple[str, str]:
        database_id = "b" + secrets.token_hex(6)
        made = await self.http.post("/databases", json={"id": database_id, "placement": placement})
        made.raise_for_status()
        return database_id, str(made.json()["dsn"])

    async def act(self, database_id: str, action: str) -> dict[str, Any]:
        done = await self.http.post(f"/databases/{database_id}/{action}")
        done.raise_for_status()
        found: dict[str, Any] = done.json()
        return found

    async def instances(self) -> dict[str, Any]:
        found: dict[str, Any] = (await self.http.get("/instances")).json()
        return found

    async def stop(self) -> None:
        await self.http.aclose()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
        self.log.close()
        metas = sorted(self.root.glob("instances/*/instance.json"))
        for meta in metas:
            PostgresInstance(meta.parent, service_user()).request_stop("immediate")
        for meta in metas:
            instance = PostgresInstance(meta.parent, service_user())
            instance.stop("immediate")


async def timed(
    n: int, before: Callable[[], Awaitable[Any]], measured: Callable[[], Awaitable[Any]]
) -> list[float]:
    samples = []
    for _ in range(n):
        await before()
        started = time.perf_counter()
        await measured()
        samples.append(time.perf_counter() - started)
    return samples


async def nothing() -> None:
    return None


async def connect_and_query(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


# --- resume, hibernate -----------------------------------------------------------------------------


async def bench_resume(agent: AgentProcess, iterations: int) -> None:
    database_id, dsn = await agent.provision("dedicated")
    conn = await asyncpg.connect(dsn)
    for _ in range(50):  # warm: statement cache, page cache
        await conn.fetchval("SELECT 1")

    async def pause() -> None:
        await agent.act(database_id, "pause")

    async def look() -> None:
        # As long a call to the agent as a pause, without pausing: on a shared VM, processes that
        # slept even a few milliseconds take longer to answer, paused or not.
        await agent.http.get(f"/instances/d-{database_id}")

    query = lambda: conn.fetchval("SELECT 1")  # noqa: E731
    print("\nresume-to-first-query (dedicated instance, through the proxy)", flush=True)
    running = ms(await timed(iterations, nothing, query))
    row("running instance, back-to-back queries", running)
    after_call = ms(await timed(iterations, look, query))
    row("running instance, after an agent call (baseline)", after_call)
    row("paused instance, pooled connection", ms(await timed(iterations, pause, query)), after_call)
    fresh = ms(await timed(max(20, iterations // 4), nothing, lambda: connect_and_query(dsn)))
    row("running instance, new connection (baseline)", fresh)
    row(
        "paused instance, new connection",
        ms(await timed(max(20, iterations // 4), pause, lambda: connect_and_query(dsn))),
        fresh,
    )

    # The mechanism alone: thaw the group ourselves and query the instance without the proxy.
    instance = PostgresInstance(agent.root / "instances" / f"d-{database_id}", service_user())
    direct = await asyncpg.connect(instance.dsn())
    for _ in range(50):
        await direct.fetchval("SELECT 1")
    meta = json.loads(instance.meta_path.read_text())
    pid = instance.pid()
    assert pid is not None
    kind = (await agent.instances())["host"]["freezer"]
    chosen = freezer.detect(kind)

    async def freeze() -> None:
        chosen.freeze(meta["group"], pid)
        while not freezer.settled(meta["group"], pid):
            await asyncio.sleep(0.0005)

    async def thaw_and_query() -> None:
        chosen.thaw(meta["group"], pid)
        await direct.fetchval("SELECT 1")

    base = ms(await timed(iterations, nothing, lambda: direct.fetchval("SELECT 1")))
    row("straight at the instance, running (baseline)", base)
    row(f"straight at it, {kind} thaw + query", ms(await timed(iterations, freeze, thaw_and_query)), base)
    await direct.close()

    async def hibernate() -> None:
        await agent.act(database_id, "hibernate")

    print("\nhibernated-to-first-query (stopped with a fast shutdown, started by the proxy)", flush=True)
    stops = []
    for _ in range(5):
        started = time.perf_counter()
        await hibernate()
        stops.append(time.perf_counter() - started)
        await connect_and_query(dsn)
    row("hibernate (fast shutdown, via the agent API)", ms(stops))
    row(
        "hibernated instance, new connection",
        ms(await timed(max(10, iterations // 10), hibernate, lambda: connect_and_query(dsn))),
        fresh,
    )
    await conn.close()


# --- provisioning ----------------------------------------------------------------------------------


async def spare_ready(agent: AgentProcess, placement: str) -> None:
    """Wait until the agent has made all its spares (so none is being made while we measure)."""
    deadline = time.monotonic() + 30
    while (await agent.instances())["host"]["spares"][placement] < SPARES:
        if time.monotonic() > deadline:
            raise SystemExit(f"no {placement} spare was made within 30 s")
        await asyncio.sleep(0.02)


async def bench_provision(agent: AgentProcess, root: Path, n: int) -> None:
    print("\nprovision-to-first-query (agent API call + connect + SELECT 1 through the proxy)", flush=True)
    naive = []
    for i in range(3):
        started = time.perf_counter()
        instance = PostgresInstance(root / f"naive-{i}", service_user())
        instance.create(durable=False)
        instance.start()
        await connect_and_query(instance.dsn())
        naive.append(time.perf_counter() - started)
        instance.stop()
        shutil.rmtree(instance.root, ignore_errors=True)
    base = ms(naive)
    row("initdb + start + SELECT 1 (baseline)", base)
    await agent.provision("shared")  # the shared cluster makes spares once it has been woken
    for placement in ("shared", "dedicated"):
        for spare in (True, False):
            samples = []
            for _ in range(n):
                if spare:
                    await spare_ready(agent, placement)
                started = time.perf_counter()
                _, dsn = await agent.provision(placement)
                await connect_and_query(dsn)
                samples.append(time.perf_counter() - started)
            label = f"{placement}, {'a spare ready' if spare else 'cold (no spare)'}"
            row(label, ms(samples), base)
            await agent.start(spares=0 if spare else SPARES)


# --- density ---------------------------------------------------------------------------------------


def machine_limits(root: Path) -> dict[str, int]:
    stat = os.statvfs(root)
    meminfo = dict(
        (line.split(":")[0], int(line.split()[1])) for line in Path("/proc/meminfo").read_text().splitlines()
    )
    return {
        "mem_total_kb": meminfo["MemTotal"],
        "mem_available_kb": meminfo["MemAvailable"],
        "shm_segments_max": int(Path("/proc/sys/kernel/shmmni").read_text()),
        "shm_segments_used": len(Path("/proc/sysvipc/shm").read_text().splitlines()) - 1,
        "pid_max": int(Path("/proc/sys/kernel/pid_max").read_text()),
        "tasks": int(Path("/proc/loadavg").read_text().split()[3].split("/")[1]),
        "disk_free_bytes": stat.f_bavail * stat.f_frsize,
    }


async def bench_density(agent: AgentProcess, root: Path, dedicated: int | None, shared: int) -> None:
    limits = machine_limits(root)
    [template] = list((root / "templates").glob("*/data"))
    disk_each = resources.disk_bytes(template)
    reserve_kb = max(6 * GIB_KB, limits["mem_total_kb"] * 3 // 10)  # for everything else on the machine
    caps = {
        # ~6 MiB measured per idle instance here; 8 leaves a margin
        "memory (8 MiB each, leaving 30% or 6 GiB)": (limits["mem_available_kb"] - reserve_kb) // (8 * 1024),
        "SysV shared memory segments (1 each)": limits["shm_segments_max"] - limits["shm_segments_used"] - 64,
        "PIDs (5 processes each, 4096 spare)": (limits["pid_max"] - limits["tasks"] - 4096) // 5,
        "disk (template size each, 10 GiB spare)": (limits["disk_free_bytes"] - 10 * GIB_KB * 1024)
        // disk_each,
    }
    print("\ndensity: what bounds the number of idle dedicated instances here", flush=True)
    for name, value in limits.items():
        print(f"  {name:<22} {value}", flush=True)
    for name, cap in caps.items():
        print(f"  cap by {name:<48} {cap}", flush=True)
    n = dedicated if dedicated is not None else max(0, min(2000, *caps.values()))
    print(f"  → starting {n} dedicated instances" + (" (given)" if dedicated is not None else ""), flush=True)

    before = resources.memory_available_kb()
    started = time.monotonic()
    made = set()
    for i in range(n):
        if i % 10 == 0 and resources.memory_available_kb() < reserve_kb:
            # Never starve the rest of the machine: what was reached is the measurement.
            say(f"stopping at {i} instances: MemAvailable is down to the {reserve_kb // 1024} MiB kept free")
            break
        database_id, _ = await agent.provision("dedicated")
        made.add(f"d-{database_id}")
        if (i + 1) % 100 == 0:
            say(
                f"{i + 1}/{n} dedicated instances, {time.monotonic() - started:.0f}s, "
                f"MemAvailable {resources.memory_available_kb() // 1024} MiB"
            )
    await agent.start(spares=0)  # stop making spares: only instances count from here
    await asyncio.sleep(10)  # let every instance settle (checkpoints, autovacuum launcher)
    after = resources.memory_available_kb()
    figures = [i for i in (await agent.instances())["instances"] if i["name"] in made]
    pss = sum(i["memory_pss_kb"] for i in figures)
    processes = sum(i["processes"] for i in figures)
    disk = sum(resources.disk_bytes(root / "instances" / name) for name in made)
    if figures:
        count = len(figures)
        drop_each = (before - after) / count
        pss_each = pss / count
        print(f"  {count} idle dedicated instances ({processes / count:.1f} processes each)", flush=True)
        print(
            f"  MemAvailable drop {(before - after) / 1024:,.0f} MiB: {drop_each / 1024:.2f} MiB each, "
            f"{GIB_KB / drop_each:,.0f} per GiB, {24 * GIB_KB / drop_each:,.0f} per 24 GiB",
            flush=True,
        )
        print(
            f"  PSS of their processes {pss / 1024:,.0f} MiB: {pss_each / 1024:.2f} MiB each, "
            f"{GIB_KB / pss_each:,.0f} per GiB, {24 * GIB_KB / pss_each:,.0f} per 24 GiB",
            flush=True,
        )
        print(f"  disk {disk / 2**20:,.0f} MiB: {disk / count / 2**20:.1f} MiB each", flush=True)

    print(f"\ndensity: {shared} databases in the shared cluster", flush=True)
    shared_root = root / "instances" / "shared-1"
    disk_before = resources.disk_bytes(shared_root)
    before = resources.memory_available_kb()
    for i in range(shared):
        await agent.provision("shared")
        if (i + 1) % 100 == 0:
            say(f"{i + 1}/{shared} shared databases")
    await asyncio.sleep(5)
    after = resources.memory_available_kb()
    cluster = next(i for i in (await agent.instances())["instances"] if i["placement"] == "shared")
    if shared:
        disk_each_shared = (resources.disk_bytes(shared_root) - disk_before) / shared
        print(
            f"  the cluster: {cluster['processes']} processes, PSS {cluster['memory_pss_kb'] / 1024:.0f} MiB "
            f"(idle databases have no processes)",
            flush=True,
        )
        print(
            f"  MemAvailable drop {(before - after) / 1024:,.0f} MiB for {shared} databases "
            f"(page cache of their files included)",
            flush=True,
        )
        print(
            f"  disk {disk_each_shared / 2**20:.1f} MiB each: {24 * GIB_KB * 1024 / disk_each_shared:,.0f} "
            f"per 24 GiB of disk",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--provisions", type=int, default=20)
    parser.add_argument("--dedicated", default="auto", help="idle dedicated instances for density, or auto")
    parser.add_argument("--shared", type=int, default=1000, help="shared databases for density")
    parser.add_argument("--freezer", default="auto")
    parser.add_argument("--skip", default="", help="comma-separated: resume,provision,density")
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    base = Path(tempfile.mkdtemp(prefix="bw-bench-hosts-", dir=args.root))
    base.chmod(0o755)
    root = base / "agent"
    root.mkdir()
    fs = subprocess.run(
        ["stat", "-f", "-c", "%T", str(base)], capture_output=True, text=True, check=False
    ).stdout
    agent = AgentProcess(root, args.freezer)
    try:
        health = await agent.start(spares=SPARES)
        print(
            f"host agent: freezer {health['freezer']}, copies by {health['copy']}, root on {fs.strip()} "
            f"({base}), {os.cpu_count()} cores",
            flush=True,
        )
        if "resume" not in skip:
            await bench_resume(agent, args.iterations)
        if "provision" not in skip:
            await bench_provision(agent, base, args.provisions)
        if "density" not in skip:
            await bench_density(
                agent, root, None if args.dedicated == "auto" else int(args.dedicated), args.shared
            )
    finally:
        say("stopping every instance and removing the files (many small files: this takes a while)")
        await agent.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

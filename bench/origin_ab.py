"""The origin's CPU per request, an earlier commit against this tree, side by side in one run.

    .venv/bin/python bench/origin_ab.py --baseline 668a40f [--ops 1500] [--rounds 4] [--concurrency 8]

Starts the whole stack in a temporary directory with bench/engine.py's blog database, then two more
origin processes beside it on the same database: the baseline (the commit exported with `git archive`)
and this tree. Each operation of bench/engine.py is sent straight to each origin (signed as the edge
would, bench/engine.py's lean client), in alternating rounds, and each origin's CPU time is read from
/proc. On a shared machine the absolute figures move with its load; the ratio of the two, taken from the
same rounds, is what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT), str(ROOT / "edge")]

from engine import DDL, OPERATIONS, SignedOrigin, _cpu_seconds, load  # noqa: E402

from bwdev.stack import Stack, StackConfig  # noqa: E402
from hosts.ports import free_port  # noqa: E402


def export(commit: str, into: Path) -> Path:
    archive = into / "baseline.tar"
    subprocess.run(["git", "archive", "-o", str(archive), commit], cwd=ROOT, check=True)
    tree = into / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def start_origin(stack: Stack, tree: Path, service: str, logs: Path) -> tuple[subprocess.Popen[bytes], int]:
    """An origin process from `tree`'s code, as the stack would start origin `service`."""
    port = free_port()
    env = {**stack.env_origin(service), "PYTHONPATH": f"{tree / 'edge'}{os.pathsep}{tree}"}
    log = (logs / f"{service}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "origin", "--port", str(port)], env=env, cwd=tree, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((logs / f"{service}.log").read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_bw/health").status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{service} did not start")


def sender(origin: SignedOrigin, make: Callable[[], dict[str, Any]]) -> Callable[[], Awaitable[bytes]]:
    async def one() -> bytes:
        return await origin.post(make())

    return one


async def compare(
    stack: Stack, tenant: dict[str, Any], sides: dict[str, tuple[int, int, str]], args: argparse.Namespace
) -> None:
    secret = stack.secrets["service_secret"].encode()
    origins = {
        side: SignedOrigin(f"http://127.0.0.1:{port}", secret, tenant, origin_id=origin_id)
        for side, (_pid, port, origin_id) in sides.items()
    }
    print(f"{'operation':<26}{'baseline µs/req':>17}{'this µs/req':>13}{'ratio':>8}{'ops/s ratio':>13}")
    for name, make in OPERATIONS.items():
        cpu = dict.fromkeys(sides, 0.0)
        wall = dict.fromkeys(sides, 0.0)
        senders = {side: sender(origin, make) for side, origin in origins.items()}
        for side in sides:
            await load(200, args.concurrency, senders[side])  # warm: pools, caches
        for round_ in range(args.rounds):
            for side in list(sides) if round_ % 2 == 0 else list(reversed(sides)):
                pid = sides[side][0]
                before = _cpu_seconds(pid)
                timings = await load(args.ops, args.concurrency, senders[side])
                cpu[side] += _cpu_seconds(pid) - before
                wall[side] += timings.wall
        n = args.ops * args.rounds
        base, this = cpu["baseline"] / n * 1e6, cpu["this"] / n * 1e6
        speed = wall["baseline"] / wall["this"]
        print(f"{name:<26}{base:>17.0f}{this:>13.0f}{this / base:>8.2f}{speed:>12.2f}x")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    for origin in origins.values():
        await origin.http.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare this tree with")
    parser.add_argument("--ops", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-bench-ab-") as tmp:
        baseline = export(args.baseline, Path(tmp))
        # Three origins share the database's connection limit: enough for both loads at once.
        config = StackConfig(
            root=Path(tmp) / "stack", durable=False, extra_env={"BREAKWATER_POOL_PER_DATABASE": "40"}
        )
        stack = Stack(config)
        stack.start()
        processes: list[subprocess.Popen[bytes]] = []
        try:
            tenant = stack.admin("POST", "/admin/databases", {"name": "bench"})

            async def seed() -> None:
                conn = await asyncpg.connect(tenant["postgres_dsn"])
                await conn.execute(DDL)
                await conn.close()

            asyncio.run(seed())
            print(f"baseline {args.baseline} against this tree, load average {os.getloadavg()[0]:.1f}")
            old, old_port = start_origin(stack, baseline, "origin-2", Path(tmp))
            processes.append(old)
            new, new_port = start_origin(stack, ROOT, "origin-3", Path(tmp))
            processes.append(new)
            sides = {"baseline": (old.pid, old_port, "o2"), "this": (new.pid, new_port, "o3")}
            asyncio.run(compare(stack, tenant, sides, args))
        finally:
            for process in processes:
                process.terminate()
                process.wait(30)
            stack.stop()


if __name__ == "__main__":
    main()

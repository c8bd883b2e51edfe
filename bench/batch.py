"""The Prisma 6 client's batched findUniques (its dataloader) against one request at a time.

    .venv/bin/python bench/batch.py [--seconds 20] [--rounds 4] [--size 8] [--checkout PATH]

Starts the whole stack (real Postgres, host agent, origin, edge on the local runtime) in a temporary
directory, seeds a database (1000 users, 5000 posts) and runs the real Prisma Client 6.19.3
(bench/batch.cjs, one Node process per phase) through the local edge with one request in flight:
  batched   lock-step batches: `Promise.all` of `--size` findUniques by random id, which the client
            sends as one `{"batch": [...]}` request (the origin answers it with one statement)
  single    the same findUniques, each awaited before the next (a request each)
in `--rounds` rounds alternating which goes first (the machine is shared: interleaving spreads its
noise over both). Prints findUniques per second, request latencies, the ratio batched / single, and
the CPU time per findUnique of the edge, the origin and Postgres (all of this stack's Postgres
processes). `--checkout` runs the stack of another checkout of the project (e.g. the commit before a
change) with this workload, for a before / after in the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="per mode, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--size", type=int, default=8, help="findUniques per batch")
    parser.add_argument("--checkout", type=Path, default=None, help="run this checkout's stack instead")
    return parser.parse_args()


ARGS = _arguments()
STACK_ROOT = (ARGS.checkout or ROOT).resolve()
sys.path[:0] = [str(STACK_ROOT), str(STACK_ROOT / "edge"), str(ROOT)]

import asyncpg  # noqa: E402

from bench.engine import CpuMeter  # noqa: E402
from bench.workloads import node_workload  # noqa: E402
from bwdev.stack import Stack, StackConfig  # noqa: E402


def generate_client(schema: str) -> Path:
    """This checkout's Prisma 6 client for `schema` (tests/prisma6 generates and caches it)."""
    spec = importlib.util.spec_from_file_location("prisma6_setup", ROOT / "tests" / "prisma6" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder: Path = module.generate_client(schema)
    return folder


MODES = ("batched", "single")
USERS = 1000

SCHEMA = """
generator client {
  provider = "prisma-client-js"
}

datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
}

model User {
  id    Int     @id @default(autoincrement())
  email String  @unique
  name  String?
  posts Post[]
}

model Post {
  id        Int     @id @default(autoincrement())
  title     String
  published Boolean @default(false)
  authorId  Int
  author    User    @relation(fields: [authorId], references: [id])
}
"""

DDL = f"""
CREATE TABLE "User" (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text);
CREATE TABLE "Post" (id serial PRIMARY KEY, title text NOT NULL, published boolean NOT NULL DEFAULT false,
                     "authorId" integer NOT NULL REFERENCES "User" (id));
INSERT INTO "User" (email, name)
  SELECT 'user' || i || '@x.io', 'User ' || i FROM generate_series(1, {USERS}) i;
INSERT INTO "Post" (title, published, "authorId")
  SELECT 'Post ' || i, i % 2 = 0, 1 + (i % {USERS}) FROM generate_series(1, 5000) i;
ANALYZE;
"""


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(DDL)
    finally:
        await conn.close()


def phase(client: Path, url: str, mode: str, seconds: float, size: int) -> dict[str, Any]:
    script = str(ROOT / "bench" / "batch.cjs")
    argv = [script, str(client), url, mode, str(seconds), str(size), str(USERS)]
    return node_workload(argv, ROOT / "tests" / "prisma6", seconds, mode, {"PRISMA_HIDE_UPDATE_MESSAGE": "1"})


@dataclass
class Totals:
    found: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    warm_up: int = 0  # findUniques of the warm-up requests, which cost CPU like the others

    def add(self, result: dict[str, Any], cpu: dict[str, float], warm_up: int) -> None:
        self.found += result["count"]
        self.seconds += result["seconds"]
        self.latencies += result["latencies_ms"]
        self.warm_up += warm_up
        for name, spent in cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + spent

    @property
    def throughput(self) -> float:
        return self.found / self.seconds

    def cpu_us(self, name: str) -> float:
        return 1e6 * self.cpu[name] / (self.found + self.warm_up)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(results: dict[str, Totals], size: int) -> None:
    print(f"{'mode':<10}{'findUnique/s':>13}{'req p50 ms':>12}{'req p99 ms':>12}   CPU µs per findUnique")
    for mode in MODES:
        t = results[mode]
        cpu = "  ".join(f"{name} {t.cpu_us(name):6.0f}" for name in ("edge", "origin", "postgres"))
        print(f"{mode:<10}{t.throughput:>13.0f}{t.percentile(0.5):>12.2f}{t.percentile(0.99):>12.2f}   {cpu}")
    batched, single = results["batched"], results["single"]
    print()
    print(f"batched ({size} per request) / single: throughput {batched.throughput / single.throughput:.2f}x")
    for name in ("edge", "origin", "postgres"):
        print(f"  CPU per findUnique, {name:<9} {batched.cpu_us(name) / single.cpu_us(name):.2f}x")


def main() -> None:
    client = generate_client(SCHEMA) / "client"
    with tempfile.TemporaryDirectory(prefix="bw-bench-batch-") as tmp:
        with Stack(StackConfig(root=Path(tmp), durable=False), progress=say) as stack:
            made = stack.admin("POST", "/admin/databases", {"name": "benchbatch"})
            asyncio.run(seed(made["postgres_dsn"]))
            url = made["url"].replace("localhost", "127.0.0.1")
            meter = CpuMeter(stack)
            results = {mode: Totals() for mode in MODES}
            per_round = ARGS.seconds / ARGS.rounds
            say(f"{ARGS.rounds} rounds of {per_round:g}s per mode, through the local edge ({STACK_ROOT})")
            for round_number in range(ARGS.rounds):
                order = MODES if round_number % 2 == 0 else tuple(reversed(MODES))
                for mode in order:
                    before = meter.snapshot()
                    result = phase(client, url, mode, per_round, ARGS.size)
                    after = meter.snapshot()
                    spent = {k: after[k] - before[k] for k in ("edge", "origin", "postgres")}
                    warm_up = 20 * (ARGS.size if mode == "batched" else 1)
                    results[mode].add(result, spent, warm_up)
            report(results, ARGS.size)


if __name__ == "__main__":
    main()

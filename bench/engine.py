"""Query engine benchmark: in-process engine vs raw asyncpg, HTTP through the origin, compile times.

    .venv/bin/python bench/engine.py [--ops 3000] [--http-ops 1500] [--concurrency 8] [--profile]

Starts the whole stack in a temporary directory, seeds a blog database (1000 users, 5000 posts) and
measures, side by side in one run on this machine:

(a) the engine in-process (JSON body → parse → fingerprint/plan (cached) → bind → execute → result
    text) against raw asyncpg running the very same SQL and parameters, on the same pool;
(b) the same operations over HTTP: straight to the origin (requests signed here, as the edge would)
    and through the local edge, so the serving overhead is visible;
(c) compile time per query with a cold shape cache (plan + SQL) and a warm one (lookup + bind).

One file over 400 lines on purpose: a benchmark is one script a reader runs and reads top to bottom,
its three parts sharing one stack, one seeded database and one way of printing ratios.
With --profile, (b) is repeated against a second origin process running under cProfile and the time
is broken down by layer.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "edge")]

from bwcontract import service  # noqa: E402
from bwdev.stack import Stack, StackConfig  # noqa: E402
from hosts.ports import free_port  # noqa: E402
from origin.engine import engine  # noqa: E402
from origin.engine.compile import compile_operation  # noqa: E402
from origin.engine.engine import prepare  # noqa: E402
from origin.engine.fingerprint import fingerprint, skeleton  # noqa: E402
from origin.engine.introspect import introspect  # noqa: E402
from origin.engine.params import resolve  # noqa: E402
from origin.engine.program import Statement  # noqa: E402
from origin.engine.request import parse  # noqa: E402
from origin.engine.schema import Schema  # noqa: E402

DDL = """
CREATE TABLE "User" (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text);
CREATE TABLE "Post" (id serial PRIMARY KEY, title text NOT NULL, published boolean NOT NULL DEFAULT false,
                     "authorId" integer NOT NULL REFERENCES "User" (id));
CREATE INDEX ON "Post" ("authorId");
INSERT INTO "User" (email, name) SELECT 'user' || i || '@x.io', 'User ' || i FROM generate_series(1, 1000) i;
INSERT INTO "Post" (title, published, "authorId")
  SELECT 'Post ' || i, i % 2 = 0, 1 + (i % 1000) FROM generate_series(1, 5000) i;
ANALYZE;
"""

_emails = itertools.count()


def find_unique() -> dict[str, Any]:
    return body("User", "findUnique", {"where": {"id": 1 + next(_emails) % 1000}})


def find_many_include() -> dict[str, Any]:
    return body(
        "User",
        "findMany",
        {
            "where": {"email": {"startsWith": f"user{1 + next(_emails) % 9}"}},
            "take": 10,
            "orderBy": {"id": "asc"},
        },
        # `Post`: the relation's name in the introspected schema /v1 uses.
        {
            "$scalars": True,
            "Post": {"arguments": {"where": {"published": True}}, "selection": {"$scalars": True}},
        },
    )


def create_one() -> dict[str, Any]:
    return body(
        "User", "createOne", {"data": {"email": f"new{os.getpid()}-{next(_emails)}@x.io", "name": "N"}}
    )


def body(model: str, action: str, arguments: dict[str, Any], selection: Any = None) -> dict[str, Any]:
    return {
        "modelName": model,
        "action": action,
        "query": {"arguments": arguments, "selection": selection or {"$scalars": True}},
    }


OPERATIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "findUnique by id": find_unique,
    "findMany filter+include": find_many_include,
    "createOne": create_one,
}


class Timings:
    def __init__(self) -> None:
        self.samples: list[float] = []
        self.wall = 0.0

    @staticmethod
    def merge(runs: list[Timings]) -> Timings:
        merged = Timings()
        for run in runs:
            merged.samples += run.samples
            merged.wall += run.wall
        return merged

    def line(self, label: str, baseline: Timings | None = None) -> str:
        ops = len(self.samples) / self.wall
        q = statistics.quantiles(self.samples, n=100)
        text = f"  {label:<34} {ops:9.0f} ops/s   p50 {q[49] * 1000:6.3f} ms   p99 {q[98] * 1000:6.3f} ms"
        if baseline is not None:
            text += f"   = {ops / (len(baseline.samples) / baseline.wall):6.1%} of raw asyncpg"
        return text


async def load(n: int, concurrency: int, one: Callable[[], Awaitable[Any]]) -> Timings:
    timings = Timings()
    remaining = itertools.count()

    async def worker() -> None:
        while next(remaining) < n:
            start = time.perf_counter()
            await one()
            timings.samples.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    timings.wall = time.perf_counter() - start
    return timings


# --- (a) in process ---------------------------------------------------------------------------------


async def in_process(dsn: str, ops: int, concurrency: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    async with pool.acquire() as conn:
        schema = await introspect(conn)  # the schema /v1 compiles against
    print(f"(a) in-process, 3 rounds x {ops} ops each, {concurrency} concurrent, one pool of {concurrency}")
    for name, make in OPERATIONS.items():
        rounds: dict[str, list[Timings]] = {"raw": [], "engine": []}
        for round_ in range(4):  # alternate the two, so drift on a shared machine hits both alike
            bodies = [make() for _ in range(ops)]
            statements = []
            for body in [make() for _ in range(ops)]:
                # The baseline gets its SQL and values ready-made, outside the timing.
                program, env = prepare(schema, parse(body))
                statement = program.steps[0]
                assert isinstance(statement, Statement)
                statements.append((statement.sql, resolve(statement.params, env)))
            engine_next, raw_next = iter(bodies), iter(statements)

            async def via_engine(engine_next: Iterator[dict[str, Any]] = engine_next) -> Any:
                query = parse(next(engine_next))
                async with pool.acquire() as conn:
                    return (await engine.run(schema, query, conn)).json

            async def via_asyncpg(raw_next: Iterator[tuple[str, list[Any]]] = raw_next) -> Any:
                sql, params = next(raw_next)
                async with pool.acquire() as conn:
                    return await conn.fetchval(sql, *params)

            engine_timings = await load(ops, concurrency, via_engine)
            raw_timings = await load(ops, concurrency, via_asyncpg)
            if round_ > 0:  # the first round warms prepared statements and the shape cache
                rounds["engine"].append(engine_timings)
                rounds["raw"].append(raw_timings)
        raw, eng = Timings.merge(rounds["raw"]), Timings.merge(rounds["engine"])
        print(f" {name}")
        print(raw.line("raw asyncpg (same SQL, prepared)"))
        print(eng.line("engine (parse → … → result)", raw))
        added = await _overhead(pool, schema, make)
        print(f"      sequential on one connection: the engine adds {added:.1f} µs per query")
    await pool.close()


async def _overhead(pool: asyncpg.Pool, schema: Schema, make: Callable[[], dict[str, Any]]) -> float:
    """Median latency of the engine minus that of raw asyncpg, one query at a time (less noisy)."""
    n = 1500
    bodies = [make() for _ in range(n)]
    ready = []
    for body in [make() for _ in range(n)]:
        program, env = prepare(schema, parse(body))
        statement = program.steps[0]
        assert isinstance(statement, Statement)
        ready.append((statement.sql, resolve(statement.params, env)))
    eng: list[float] = []
    raw: list[float] = []
    async with pool.acquire() as conn:
        for body, (sql, params) in zip(bodies, ready, strict=True):
            start = time.perf_counter()
            (await engine.run(schema, parse(body), conn)).json  # noqa: B018
            eng.append(time.perf_counter() - start)
            start = time.perf_counter()
            await conn.fetchval(sql, *params)
            raw.append(time.perf_counter() - start)
    return (statistics.median(eng) - statistics.median(raw)) * 1e6


# --- (b) over HTTP ----------------------------------------------------------------------------------


class RawHttp:
    """A lean HTTP/1.1 client: keep-alive connections, one request at a time on each, the answer read by
    its content-length. httpx costs this process ~1.5 ms of CPU per request, more than the servers
    under test; on 2 shared cores that load generator would be most of what is measured."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        self.host, self.port = host, int(port or 80)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {target} HTTP/1.1", f"host: {self.host}", f"content-length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"no content-length in the answer: {head!r}")
        answer = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status, answer

    async def aclose(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


class SignedOrigin:
    """Requests straight to an origin, signed the way the edge signs them."""

    def __init__(self, url: str, secret: bytes, tenant: dict[str, Any], origin_id: str = "o1") -> None:
        self.http = RawHttp(url)
        self.secret = secret
        self.audience = service.origin_audience(origin_id)
        self.claims = {
            "k": tenant["key"]["id"],
            "w": "bench",  # not checked by the origin: the key id and database are
            "d": tenant["database"]["id"],
            "n": tenant["database"]["name"],
            "s": "read-write",
        }

    async def post(self, payload: dict[str, Any]) -> bytes:
        content = json.dumps(payload).encode()
        header = service.sign(
            self.secret, self.audience, self.claims, "POST", "/v1/query", content, time.time()
        )
        status, answer = await self.http.request(
            "POST", "/v1/query", {service.HEADER: header, "content-type": "application/json"}, content
        )
        if status != 200:
            raise RuntimeError(answer.decode())
        return answer


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of its children that have exited (Linux /proc): Postgres
    backends that end during the load are then still counted, in their postmaster."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:15]) / ticks


def _postgres_pids(root: Path) -> list[int]:
    """This stack's Postgres processes: postmasters whose data directory is under `root`, and their
    children (other Postgres servers on the machine are not ours to count)."""
    parents: dict[int, int] = {}
    masters = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(stat[1])
            if str(root) in (entry / "cmdline").read_text():
                masters.append(int(entry.name))
        except OSError:
            continue
    return masters + [pid for pid, parent in parents.items() if parent in masters]


class CpuMeter:
    """CPU time spent per component while a load runs: origin, edge, Postgres and this client."""

    def __init__(self, stack: Stack) -> None:
        self.pids = {s.name: s.process.pid for s in stack.services}
        self.root = stack.root

    def snapshot(self) -> dict[str, float]:
        own = os.times()
        return {
            "origin": _cpu_seconds(self.pids["origin"]),
            "edge": _cpu_seconds(self.pids["edge"]),
            "postgres": sum(_cpu_seconds(p) for p in _postgres_pids(self.root)),
            "client": own.user + own.system,
        }


async def over_http(
    label: str,
    post: Callable[[dict[str, Any]], Awaitable[Any]],
    ops: int,
    concurrency: int,
    meter: CpuMeter,
) -> None:
    print(f" {label}")
    for name, make in OPERATIONS.items():

        async def one(make: Callable[[], dict[str, Any]] = make) -> Any:
            return await post(make())

        await load(100, concurrency, one)
        before = meter.snapshot()
        timings = await load(ops, concurrency, one)
        after = meter.snapshot()
        print(timings.line(name))
        spent = {k: (after[k] - before[k]) / ops * 1e6 for k in after}
        print(
            "      CPU per request: "
            + ", ".join(f"{k} {v:.0f} µs" for k, v in spent.items() if v > 0.5)
            + f"  (total {sum(spent.values()):.0f} µs)"
        )


# --- (c) compile times -------------------------------------------------------------------------------


def compile_times(schema: Schema, rounds: int) -> None:
    print(
        f"(c) compile time per query ({rounds} rounds; "
        "cold = fingerprint + plan + SQL, warm = fingerprint + lookup + bind)"
    )
    for name, make in OPERATIONS.items():
        queries = [parse(make()) for _ in range(rounds)]
        start = time.perf_counter()
        for query in queries:
            _key, _leaves = fingerprint(query.body)
            compile_operation(schema, query.action, query.model, skeleton(query.body))
        cold = (time.perf_counter() - start) / rounds
        prepare(schema, queries[0])
        start = time.perf_counter()
        for query in queries:
            program, env = prepare(schema, query)
            statement = program.steps[0]
            assert isinstance(statement, Statement)
            resolve(statement.params, env)
        warm = (time.perf_counter() - start) / rounds
        print(f"  {name:<34} cold {cold * 1e6:8.1f} µs   warm {warm * 1e6:6.1f} µs   ({cold / warm:4.1f}x)")


# --- profile -----------------------------------------------------------------------------------------

LAYERS = [
    ("idle: waiting in epoll", ("method 'poll' of 'select.epoll'",)),
    ("socket send/recv (kernel)", ("method 'send' of '_socket.socket'", "method 'recv", "_read_ready")),
    ("uvicorn / h11 / httptools (HTTP)", ("uvicorn", "h11", "httptools")),
    ("starlette (routing, request, response)", ("starlette",)),
    (
        "origin auth (signature, key gate)",
        ("origin/auth.py", "bwcontract/service.py", "bwcontract/b64.py", "keygate.py", "hmac", "hashlib"),
    ),
    ("origin fronts", ("origin/fronts",)),
    ("engine (fingerprint, bind, shape)", ("origin/engine",)),
    ("tenants / pool", ("origin/tenants.py", "origin/pool/", "asyncpg/pool.py")),
    ("asyncpg (protocol, statements)", ("asyncpg",)),
    ("json", ("json/", "_json")),
    ("asyncio event loop", ("asyncio",)),
]
# Start-up work (imports, TLS defaults of the HTTP clients) is not serving: left out of the shares.
STARTUP = (
    "<frozen",
    "builtins.compile>",
    "marshal.loads>",
    "builtins.exec>",
    "load_verify_locations",
    "'read' of '_io.BufferedReader'",
    "posix.stat>",
    "method _imp",
    "io.open_code>",
    "__build_class__>",
    "sre_",
    "_compiler.py",
    "_parser.py",
    "typing.py",
    "dataclasses.py",
    "enum.py",
    "inspect.py",
)


def profile_report(path: Path, requests: int) -> None:
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    layers = dict.fromkeys([name for name, _ in LAYERS] + ["other"], 0.0)
    for (filename, _line, func), values in raw.items():
        where = f"{filename}{func}" if filename != "~" else func
        if any(n in where for n in STARTUP):
            continue
        for name, needles in LAYERS:
            if any(n in where for n in needles):
                layers[name] += values[2]
                break
        else:
            layers["other"] += values[2]
    total = sum(layers.values())
    busy = total - layers["idle: waiting in epoll"]
    print(
        f"  the origin process while serving ({requests} requests): "
        f"{busy / requests * 1e6:.0f} µs of CPU per request"
    )
    for name, seconds in sorted(layers.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<42} {seconds / total:6.1%} of wall, {seconds / requests * 1e6:6.0f} µs/request")
    print("  top functions by own time (serving only):")
    top = sorted(
        ((k, v) for k, v in raw.items() if not any(n in f"{k[0]}{k[2]}" for n in STARTUP)),
        key=lambda kv: -kv[1][2],
    )[:14]
    for (filename, line, func), values in top:
        short = filename.split("site-packages/")[-1].split(str(ROOT) + "/")[-1]
        print(f"    {values[2] / requests * 1e6:6.0f} µs/request  {func} ({short}:{line})")


async def profiled(stack: Stack, tenant: dict[str, Any], ops: int, concurrency: int) -> None:
    port = free_port()
    out = Path(tempfile.mkdtemp()) / "origin.prof"
    env = stack.env_origin("origin-2")  # o2, with its own usage journal
    log = (out.parent / "origin.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "origin", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        async with httpx.AsyncClient() as probe:
            deadline = time.monotonic() + 120  # start-up under cProfile on a loaded machine is slow
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"the profiled origin exited: {(out.parent / 'origin.log').read_text()}"
                    )
                try:
                    if (await probe.get(f"http://127.0.0.1:{port}/_bw/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        secret = stack.secrets["service_secret"].encode()
        origin = SignedOrigin(f"http://127.0.0.1:{port}", secret, tenant, origin_id="o2")
        print(f"(profile) origin under cProfile, findUnique by id, {ops} ops, {concurrency} concurrent")
        one = lambda: origin.post(find_unique())  # noqa: E731
        await load(100, concurrency, one)
        timings = await load(ops, concurrency, one)
        print(timings.line("findUnique by id (profiled)"))
        await origin.http.aclose()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    profile_report(out, ops + 100)


async def run(stack: Stack, args: argparse.Namespace) -> None:
    tenant = stack.admin("POST", "/admin/databases", {"name": "bench"})
    conn = await asyncpg.connect(tenant["postgres_dsn"])
    await conn.execute(DDL)
    await conn.close()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores "
        "shared by Postgres, origin, edge and this client\n"
    )
    if "a" in args.parts:
        await in_process(tenant["postgres_dsn"], args.ops, args.concurrency)
    if "b" in args.parts:
        await over_http_all(stack, tenant, args)
    if "c" in args.parts:
        conn = await asyncpg.connect(tenant["postgres_dsn"])
        schema = await introspect(conn)
        await conn.close()
        print()
        compile_times(schema, 2000)
    if args.profile:
        print()
        await profiled(stack, tenant, args.http_ops, args.concurrency)


async def over_http_all(stack: Stack, tenant: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\n(b) over HTTP, {args.http_ops} ops each, {args.concurrency} concurrent clients")
    meter = CpuMeter(stack)
    origin = SignedOrigin(stack.origin_url, stack.secrets["service_secret"].encode(), tenant)
    await over_http("client → origin (signed here)", origin.post, args.http_ops, args.concurrency, meter)
    await origin.http.aclose()
    edge = RawHttp(stack.edge_url)
    headers = {"authorization": f"Bearer {tenant['api_key']}", "content-type": "application/json"}

    async def via_edge(payload: dict[str, Any]) -> bytes:
        status, answer = await edge.request("POST", "/v1/query", headers, json.dumps(payload).encode())
        if status != 200:
            raise RuntimeError(answer.decode())
        return answer

    await over_http("client → edge → origin", via_edge, args.http_ops, args.concurrency, meter)
    await edge.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--http-ops", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", action="store_true", help="also profile an origin serving findUnique")
    parser.add_argument("--parts", default="abc", help="which of (a) (b) (c) to run, e.g. 'b'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-bench-") as root:
        stack = Stack(StackConfig(root=Path(root) / "stack", durable=False))
        stack.start()
        try:
            asyncio.run(run(stack, args))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()

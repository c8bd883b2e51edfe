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
One script (over 400 lines) on purpose: its measurements share one stack and one raw client.

`--metering` (issue 15): the hit path with metering on against the same edge without it, in the same
run, alternating blocks of requests, two ways:
  in-process  EdgeApp.handle: "on" is the local runtime as it runs (every hit journaled on disk,
              batches flushed to the origin in the background, the plan-limit check); "off" has no
              hit meter and no plan-limit check (the edge before metering)
  over HTTP   two local edge processes started beside the stack's, the same way (`--port`), one
              with USAGE_METERING=on, one with off; one keep-alive connection each
Prints both and the on/off ratios at p50 and p99.

`--baseline DIR` (issue 19): the local edge of another tree (e.g. `git archive main | tar -x -C DIR`)
against this tree's, two edge processes beside the stack's, measured in the same run: floor (health)
and hit on one raw keep-alive connection each, a floor and a hit per round (which first alternates), in
blocks that alternate between the edges. Prints hit/floor for each. Both edges meter hits as the
stack's does; `--edge-metering off` leaves it out of both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "edge"),
]

from bwdev.stack import Stack, StackConfig  # noqa: E402
from hosts.ports import free_port  # noqa: E402

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


class RawClient:
    """One keep-alive HTTP/1.1 connection with prebuilt requests: the client's own cost per request
    is a write and two reads, the same for every request, so the ratios are the server's."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.authority = parts.netloc

    async def __aenter__(self) -> RawClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.writer.close()

    def build(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method == "POST":
            lines.append(f"content-length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, raw: bytes) -> tuple[int, dict[bytes, bytes]]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        first, *rest = head[:-4].split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in rest)
        await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        return int(first.split(b" ", 2)[1]), headers


async def over_raw_http(stack: Stack, api_key: str, n: int) -> dict[str, list[float]]:
    """floor (health), floor401 (the hit's own request with a forged key: the same bytes in, an error
    out) and hit, with a client whose cost is the same for each."""
    body = json.dumps(QUERY).encode()
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    forged = {
        **headers,
        "authorization": f"Bearer {api_key[:-4]}{'AAAA' if not api_key.endswith('AAAA') else 'BBBB'}",
    }
    async with RawClient(stack.edge_url) as client:
        raw = {
            "floor": client.build("GET", "/_bw/health", {}),
            "floor401": client.build("POST", "/v1/query", {**forged, "cache-control": "max-age=3600"}, body),
            "hit": client.build("POST", "/v1/query", {**headers, "cache-control": "max-age=3600"}, body),
        }
        expected = {"floor": (200, None), "floor401": (401, None), "hit": (200, b"ttl")}

        def sender(label: str) -> Callable[[int], Awaitable[str | None]]:
            async def send(_: int) -> str | None:
                status, got = await client.send(raw[label])
                seen = (status, got.get(b"accelerate-cache-status"))
                return None if seen == expected[label] else f"{label}: {seen}"

            return send

        await sender("hit")(0)
        results: dict[str, list[float]] = {label: [] for label in raw}
        blocks = 10
        for block in range(blocks):  # interleaved: the machine's load falls on all three alike
            for label in raw if block % 2 == 0 else reversed(list(raw)):
                results[label] += await measure(f"raw {label}", max(n // blocks, 1), sender(label), None)
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

    forged = Headers({**dict(headers.items()), "authorization": f"Bearer {api_key[:-4]}AAAA"})

    async def floor401(_: int) -> str | None:
        response = await local.app.handle(EdgeRequest("POST", "http://edge.test/v1/query", forged, body), ctx)
        return None if response.status == 401 else str(response.status)

    await hit(0)
    try:
        return {
            "floor": await measure("in-process floor", n, floor, None),
            "hit": await measure("in-process hit", n, hit, "ttl"),
            "floor401": await measure("in-process floor401", n, floor401, None),
        }
    finally:
        await local.origin.aclose()


async def metering(stack: Stack, api_key: str, n: int, root: Path, blocks: int = 20) -> dict[str, Any]:
    """Hits with metering on and off, alternating blocks of n / blocks requests each."""
    from bwedge.http import EdgeRequest, Headers
    from edge_local.server import LocalContext, LocalEdge

    on = LocalEdge({**stack.env_edge(), "USAGE_METERING": "on"}, root / "on")
    off = LocalEdge({**stack.env_edge(), "USAGE_METERING": "off"}, root / "off")
    off.app.plan_limits = None  # the edge as it was before metering: no plan-limit check either
    assert on.app.usage is not None and off.app.usage is None and on.app.plan_limits is not None
    tasks: set[asyncio.Task[Any]] = set()
    ctx = LocalContext(tasks)
    headers = Headers({"authorization": f"Bearer {api_key}", "cache-control": "max-age=3600"})
    body = json.dumps(QUERY).encode()

    def hit(edge: LocalEdge) -> Callable[[int], Awaitable[str | None]]:
        async def send(_: int) -> str | None:
            # As a server does between requests: background work (the hit flushes) gets to run.
            await asyncio.sleep(0)
            response = await edge.app.handle(
                EdgeRequest("POST", "http://edge.test/v1/query", headers, body), ctx
            )
            return response.headers.get("accelerate-cache-status")

        return send

    samples: dict[str, list[float]] = {"off": [], "on": []}
    sent_before = 0
    try:
        for edge in (on, off):
            await hit(edge)(0)  # the miss that fills each one's cache
        for block in range(blocks):
            for label, edge in (("off", off), ("on", on)) if block % 2 else (("on", on), ("off", off)):
                samples[label] += await measure(f"metering {label}", max(n // blocks, 1), hit(edge), "ttl")
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        assert on.app.usage is not None
        await on.app.usage.flush()
        sent_before = len(on.app.usage.journal.sealed())
    finally:
        await on.origin.aclose()
        await off.origin.aclose()
    return {"samples": samples, "unsent_segments": sent_before}


async def metering_over_http(
    api_key: str, n: int, on_url: str, off_url: str, blocks: int = 20
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {api_key}", "cache-control": "max-age=3600"}
    body = json.dumps(QUERY).encode()
    samples: dict[str, list[float]] = {"off": [], "on": []}
    async with (
        httpx.AsyncClient(base_url=on_url, timeout=30) as on,
        httpx.AsyncClient(base_url=off_url, timeout=30) as off,
    ):

        def hit(client: httpx.AsyncClient) -> Callable[[int], Awaitable[str | None]]:
            async def send(_: int) -> str | None:
                response = await client.post("/v1/query", content=body, headers=headers)
                return response.headers.get("accelerate-cache-status")

            return send

        for client in (on, off):
            await hit(client)(0)
        for block in range(blocks):
            for label, client in (("off", off), ("on", on)) if block % 2 else (("on", on), ("off", off)):
                samples[label] += await measure(
                    f"http metering {label}", max(n // blocks, 1), hit(client), "ttl"
                )
    return {"samples": samples, "unsent_segments": 0}


def start_edge(
    stack: Stack, root: Path, metering: str, code: Path | None = None, name: str = ""
) -> tuple[subprocess.Popen[bytes], str]:
    """Another local edge process beside the stack's, with USAGE_METERING=`metering`, running the
    code of the tree `code` (this one when None)."""
    port = free_port()
    name = name or metering
    env = {**stack.env_edge(), "USAGE_METERING": metering, "EDGE_STATE_DIR": str(root / f"edge-{name}")}
    tree = code or Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = f"{tree / 'edge'}:{tree}"  # ahead of the editable install's finder
    log = (root / f"edge-{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_local", "--port", str(port)],
        env=env, stdout=log, stderr=log, cwd=tree,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_bw/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the edge with metering {metering} did not start")


async def against_baseline(api_key: str, n: int, urls: dict[str, str], blocks: int = 20) -> dict[str, Any]:
    """floor and hit on each edge in `urls` (name → URL), one raw connection each: `n` rounds of a
    floor and a hit (which goes first alternates) on one edge at a time, in blocks that alternate
    between the edges. A burst of the machine's load falls on a floor and a hit alike, p99s included,
    and each edge stays warm through its block (switching processes every request would add a cold
    start to every row and flatter the ratios)."""
    body = json.dumps(QUERY).encode()
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    samples: dict[str, dict[str, list[float]]] = {name: {"floor": [], "hit": []} for name in urls}
    clients = {name: RawClient(url) for name, url in urls.items()}
    for client in clients.values():
        await client.__aenter__()
    try:
        raw = {
            name: {
                "floor": client.build("GET", "/_bw/health", {}),
                "hit": client.build("POST", "/v1/query", {**headers, "cache-control": "max-age=3600"}, body),
            }
            for name, client in clients.items()
        }
        expected = {"floor": (200, None), "hit": (200, b"ttl")}

        async def send(name: str, label: str) -> float:
            started = time.perf_counter()
            status, got = await clients[name].send(raw[name][label])
            took = (time.perf_counter() - started) * 1000
            if (status, got.get(b"accelerate-cache-status")) != expected[label]:
                raise SystemExit(f"{name} {label}: {status} {got}")
            return took

        for name in urls:
            await clients[name].send(raw[name]["hit"])  # the miss that fills this edge's cache
        names = list(urls)
        for block in range(blocks):
            for name in names if block % 2 == 0 else reversed(names):
                for i in range(-20, max(n // blocks, 1)):  # 20 rounds of warm-up, not counted
                    for label in ("floor", "hit") if i % 2 == 0 else ("hit", "floor"):
                        took = await send(name, label)
                        if i >= 0:
                            samples[name][label].append(took)
        say(f"{n} rounds on each of {len(names)} edges")
    finally:
        for client in clients.values():
            await client.__aexit__()
    return samples


def report_baseline(found: dict[str, dict[str, list[float]]]) -> None:
    print("\nbaseline vs this tree (local edges over HTTP, raw connections, floor and hit interleaved)")
    print(f"{'':16}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}")
    for name, results in found.items():
        for label, samples in results.items():
            p50, p99 = percentiles(samples)
            print(f"{name + ' ' + label:16}{len(samples):>7}{p50:>10.4f}{p99:>10.4f}")
    for name, results in found.items():
        floor50, floor99 = percentiles(results["floor"])
        hit50, hit99 = percentiles(results["hit"])
        print(
            f"{name}: hit/floor p50 {hit50 / floor50:.3f}x, p99 {hit99 / floor99:.3f}x; "
            f"hit - floor p50 {(hit50 - floor50) * 1000:.1f} us"
        )


def report_metering(found: dict[str, Any], title: str) -> None:
    samples = found["samples"]
    print(f"\nmetering on vs off ({title}, alternating blocks)")
    print(f"{'':8}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}")
    for label in ("off", "on"):
        p50, p99 = percentiles(samples[label])
        print(f"{label:8}{len(samples[label]):>7}{p50:>10.4f}{p99:>10.4f}")
    off50, off99 = percentiles(samples["off"])
    on50, on99 = percentiles(samples["on"])
    print(
        f"on/off: p50 {on50 / off50:.3f}x ({(on50 / off50 - 1) * 100:+.1f} %), "
        f"p99 {on99 / off99:.3f}x ({(on99 / off99 - 1) * 100:+.1f} %)"
    )
    if "unsent_segments" in found and title.startswith("in-process"):
        print(f"hit batches left undelivered: {found['unsent_segments']}")


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
    parser.add_argument(
        "--metering", action="store_true", help="only the hit path with metering on vs off (issue 15)"
    )
    parser.add_argument(
        "--baseline", type=Path, help="only hit/floor of this tree's local edge against DIR's (issue 19)"
    )
    parser.add_argument(
        "--edge-metering", choices=("on", "off"), default="on", help="USAGE_METERING of the --baseline edges"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-bench-cache-") as tmp:
        with Stack(StackConfig(root=Path(tmp), durable=False), progress=say) as stack:
            made = stack.admin("POST", "/admin/databases", {"name": "bench"})
            asyncio.run(seed(made["postgres_dsn"]))
            if args.baseline:
                pair = {
                    name: start_edge(stack, Path(tmp), args.edge_metering, code, name)
                    for name, code in (("baseline", args.baseline.resolve()), ("this", None))
                }
                try:
                    named = {name: url for name, (_, url) in pair.items()}
                    compared = asyncio.run(against_baseline(made["api_key"], args.requests, named))
                finally:
                    for process, _ in pair.values():
                        process.terminate()
                        process.wait(10)
                report_baseline(compared)
                return
            elif args.metering:
                found = asyncio.run(metering(stack, made["api_key"], args.requests, Path(tmp) / "edges"))
                edges = [start_edge(stack, Path(tmp), switch) for switch in ("on", "off")]
                try:
                    urls = [url for _, url in edges]
                    over = asyncio.run(metering_over_http(made["api_key"], args.requests, *urls))
                finally:
                    for process, _ in edges:
                        process.terminate()
                        process.wait(10)
            else:
                http = asyncio.run(over_http(stack, made["api_key"], args.requests))
                raw = asyncio.run(over_raw_http(stack, made["api_key"], args.requests))
                local = asyncio.run(in_process(stack, made["api_key"], args.requests))
    if args.metering:
        report_metering(found, "in-process hits")
        report_metering(over, "hits over HTTP")
        return
    report("through the local edge over HTTP (uvicorn, httpx, one connection)", http)
    report("through the local edge over HTTP (uvicorn, prebuilt requests on one raw connection)", raw)
    floor50, floor99 = percentiles(raw["floor401"])
    hit50, hit99 = percentiles(raw["hit"])
    print(f"hit/floor401: p50 {hit50 / floor50:.2f}x, p99 {hit99 / floor99:.2f}x")
    report("in-process (EdgeApp.handle, local runtime ports)", local)


if __name__ == "__main__":
    main()

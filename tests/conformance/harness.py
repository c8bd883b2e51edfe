"""The differential fuzzer's set-up, shared by its tests and the long run (bench/conformance.py):
the generated clients (offline, cached by schema and lock file), two databases with the schema's
tables (Breakwater's tenant and the reference's), Prisma's query-plan executor for Prisma 7, and
the Node runner (fuzz/main.mjs) with its JSON-lines output parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bwdev.stack import Stack
from hosts.ports import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
HERE = ROOT / "tests" / "conformance"
SCHEMA = HERE / "schema.prisma"
TABLES = HERE / "schema.sql"
RUNNER = HERE / "fuzz" / "main.mjs"
PROJECTS = {"6": ROOT / "tests" / "prisma6_conformance", "7": ROOT / "tests" / "prisma7_conformance"}
PREVIEW = '["fullTextSearchPostgres", "relationJoins"]'
# The generator block of each client; `bw` talks to Breakwater, `ref` is Prisma's own engine.
GENERATORS = {
    ("6", "bw"): 'generator client {\n  provider = "prisma-client-js"\n  output = "./bw"\n'
    f"  previewFeatures = {PREVIEW}\n}}",
    ("6", "ref"): 'generator client {\n  provider = "prisma-client-js"\n  output = "./ref"\n'
    f'  engineType = "client"\n  previewFeatures = {PREVIEW}\n}}',
    ("7", "client"): 'generator client {\n  provider = "prisma-client-js"\n  output = "./client"\n'
    f"  previewFeatures = {PREVIEW}\n}}",
}
URL_LINE = {"6": 'url = env("DATABASE_URL")', "7": ""}


class FuzzSetupError(RuntimeError):
    pass


def _digest(generation: str) -> str:
    digest = hashlib.sha256()
    for path in (SCHEMA, PROJECTS[generation] / "package-lock.json"):
        digest.update(path.read_bytes())
    digest.update(repr(sorted(GENERATORS.items())).encode())
    return digest.hexdigest()[:16]


def generate_clients(generation: str) -> dict[str, Path]:
    """The generated clients of `generation` ({"bw", "ref"}), generated offline once per schema."""
    project = PROJECTS[generation]
    if not (project / "node_modules" / ".bin" / "prisma").exists():
        raise FuzzSetupError(f"{project}/node_modules is missing: run scripts/install")
    root = project / "generated" / _digest(generation)
    variants = [v for (g, v) in GENERATORS if g == generation]
    outputs = {v: root / v for v in variants}
    if all((out / "index.js").is_file() for out in outputs.values()):
        return {"bw": outputs.get("bw", root / "client"), "ref": outputs.get("ref", root / "client")}
    shutil.rmtree(project / "generated", ignore_errors=True)
    root.mkdir(parents=True)
    for variant in variants:
        schema = root / f"{variant}.prisma"
        text = SCHEMA.read_text().replace("// @generator", GENERATORS[(generation, variant)], 1)
        schema.write_text(text.replace("// @url", URL_LINE[generation], 1))
        env = {
            **os.environ,
            "PRISMA_SCHEMA_ENGINE_BINARY": "/bin/true",
            "PRISMA_QUERY_ENGINE_LIBRARY": "/bin/true",
            "PRISMA_HIDE_UPDATE_MESSAGE": "1",
            "CHECKPOINT_DISABLE": "1",
            "PRISMA_SCHEMA_PATH": str(schema),
        }
        env.pop("DATABASE_URL", None)
        argv = [str(project / "node_modules" / ".bin" / "prisma"), "generate"]
        if generation == "6":
            argv += ["--schema", str(schema)] + (["--no-engine"] if variant == "bw" else [])
        done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0 or not (outputs[variant] / "index.js").is_file():
            shutil.rmtree(root, ignore_errors=True)
            raise FuzzSetupError(
                f"prisma generate ({generation}/{variant}) failed:\n{done.stdout}\n{done.stderr}"
            )
    return generate_clients(generation)


async def _run_script(dsn: str, script: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


@dataclass
class Databases:
    """Breakwater's tenant (its URL and DSN) and the reference's database, both with the tables."""

    bw_url: str
    bw_dsn: str
    ref_dsn: str


def create_databases(stack: Stack, prefix: str = "fuzz") -> Databases:
    made = [
        stack.admin(
            "POST", "/admin/databases", {"name": f"{prefix}{side}{os.getpid()}x{time.monotonic_ns()}"}
        )
        for side in ("bw", "ref")
    ]
    for database in made:
        asyncio.run(_run_script(database["postgres_dsn"], TABLES.read_text()))
    return Databases(made[0]["url"], made[0]["postgres_dsn"], made[1]["postgres_dsn"])


@contextlib.contextmanager
def query_plan_executor(dsn: str) -> Iterator[str]:
    """Prisma's own query-plan executor over `dsn`; yields its prisma+postgres URL."""
    for _attempt in range(3):
        port = free_port()
        process = subprocess.Popen(
            ["node", "qpe.mjs", str(port), dsn],
            cwd=PROJECTS["7"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if _serving(process, port):
                yield f"prisma+postgres://127.0.0.1:{port}/?api_key=reference"
                return
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    raise FuzzSetupError("the query-plan executor did not start (three tries)")


def _serving(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether the executor answers on `port`; False when it exited (its port taken meanwhile, say).
    Node starts slowly on a loaded machine, and several runners may start one at once."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/connection-info", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


@dataclass
class FuzzResult:
    summary: dict[str, Any]
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""


@contextlib.contextmanager
def reference(generation: str, dsn: str) -> Iterator[str]:
    """The reference's URL for the runner: Prisma 7's query-plan executor over `dsn`; Prisma 6
    needs none (its reference client runs the query compiler over the DSN itself)."""
    if generation == "7":
        with query_plan_executor(dsn) as url:
            yield url
    else:
        yield ""


def replay_cases(
    stack: Stack, generation: str, cases: list[dict[str, Any]], path: Path, prefix: str
) -> FuzzResult:
    """Replay `cases` (cases.json's form) on fresh databases of their own: each case reseeds."""
    databases = create_databases(stack, prefix)
    path.write_text(json.dumps(cases))
    with reference(generation, databases.ref_dsn) as url:
        env = runner_env(generation, databases, url)
        return run_fuzzer(env, "--generation", generation, "--replay", str(path), timeout=900)


def fuzz_budget(stack: Stack, generation: str, seed: int, count: int) -> FuzzResult:
    """`count` generated operations from `seed` on fresh databases of their own."""
    databases = create_databases(stack, f"fuzz{generation}")
    with reference(generation, databases.ref_dsn) as url:
        env = runner_env(generation, databases, url)
        args = ["--generation", generation, "--seed", str(seed), "--count", str(count)]
        return run_fuzzer(env, *args, timeout=900)


def runner_env(generation: str, databases: Databases, reference_url: str = "") -> dict[str, str]:
    clients = generate_clients(generation)
    return {
        **os.environ,
        "FUZZ_PROJECT": str(PROJECTS[generation]),
        "FUZZ_CLIENT_BW": str(clients["bw"]),
        "FUZZ_CLIENT_REF": str(clients["ref"]),
        "FUZZ_BW_URL": databases.bw_url.replace("localhost", "127.0.0.1"),
        "FUZZ_REF_URL": reference_url,
        "FUZZ_BW_DSN": databases.bw_dsn,
        "FUZZ_REF_DSN": databases.ref_dsn,
        "PRISMA_HIDE_UPDATE_MESSAGE": "1",
    }


def run_fuzzer(
    env: dict[str, str],
    *args: str,
    timeout: float = 3600,
    on_line: Callable[[dict[str, Any]], None] | None = None,
) -> FuzzResult:
    """Run fuzz/main.mjs with `args` (e.g. --generation 6 --seed 1 --count 100)."""
    process = subprocess.Popen(
        ["node", str(RUNNER), *args],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    result = FuzzResult(summary={})
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    for raw in process.stdout:
        if not raw.startswith("{"):
            continue
        line = json.loads(raw)
        result.lines.append(line)
        if line.get("type") == "mismatch":
            result.mismatches.append(line)
        if line.get("type") == "summary":
            result.summary = line
        if on_line is not None:
            on_line(line)
        if time.monotonic() > deadline:
            process.kill()
            break
    result.stderr = process.stderr.read() if process.stderr else ""
    if process.wait() != 0 and not result.summary:
        raise FuzzSetupError(f"the fuzzer failed:\n{result.stderr[-4000:]}")
    return result

"""The differential fuzzer's long run: Breakwater against Prisma's own engines, per client generation.

    .venv/bin/python bench/conformance.py [--generation 6|7|both] [--count 20000] [--seed 1] [--jobs 1]
    .venv/bin/python bench/conformance.py --record-cases    (fill in tests/conformance/cases.json)

Starts the whole stack (real Postgres, host agent, origin, edge on the local runtime) in a temporary
directory and, per generation and job, two databases with the fuzzer's schema: Breakwater's tenant
and the reference's (Prisma 6: the query compiler with @prisma/adapter-pg on it; Prisma 7: Prisma's
query-plan executor on it). Each job runs tests/conformance/fuzz/main.mjs over its share of the
operations (seed + job), with the real client on both sides, and prints every difference as a shrunk
reproduction, then the counts. Exits non-zero when anything differed.

`--record-cases` replays every case of tests/conformance/cases.json against the reference and writes
what it answered into the file's `expected` (what tests/conformance/test_regressions.py checks).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "edge")]

from bwdev.stack import Stack, StackConfig  # noqa: E402
from tests.conformance.harness import (  # noqa: E402
    HERE,
    create_databases,
    query_plan_executor,
    run_fuzzer,
    runner_env,
)


def say(message: str) -> None:
    print(f"conformance: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def reference(generation: str, dsn: str) -> Iterator[str]:
    if generation == "7":
        with query_plan_executor(dsn) as url:
            yield url
    else:
        yield ""


def fuzz(stack: Stack, generation: str, seed: int, count: int, jobs: int) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = []
    mismatches: list[dict[str, Any]] = []
    lock = threading.Lock()

    def job(index: int) -> None:
        share = count // jobs + (1 if index < count % jobs else 0)
        databases = create_databases(stack, f"long{generation}j{index}")
        with reference(generation, databases.ref_dsn) as url:
            env = runner_env(generation, databases, url)

            def on_line(line: dict[str, Any]) -> None:
                if line.get("type") == "progress":
                    say(
                        f"Prisma {generation} job {index}: {line['operations']}/{share} operations,"
                        f" {line['queries']} queries, {line['mismatches']} mismatches, {line['seconds']:.0f}s"
                    )
                if line.get("type") in ("mismatch", "flaky"):
                    with lock:
                        mismatches.append(line)
                        print(json.dumps(line), flush=True)

            args = ["--generation", generation, "--seed", str(seed + index), "--count", str(share)]
            args += ["--progress", "250"]
            result = run_fuzzer(env, *args, "--max-mismatches", "50", on_line=on_line, timeout=24 * 3600)
        with lock:
            summaries.append(result.summary)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    operations = sum(s.get("operations", 0) for s in summaries)
    queries = sum(s.get("queries", 0) for s in summaries)
    counts: dict[str, int] = {}
    for s in summaries:
        for name, n in s.get("counts", {}).items():
            counts[name] = counts.get(name, 0) + n
    print(
        json.dumps(
            {
                "generation": generation,
                "seeds": [seed + i for i in range(jobs)],
                "operations": operations,
                "queries": queries,
                "mismatches": len(mismatches),
                "counts": dict(sorted(counts.items())),
            }
        ),
        flush=True,
    )
    return mismatches


def record_cases(stack: Stack) -> None:
    path = HERE / "cases.json"
    cases = json.loads(path.read_text())
    for generation in ("6", "7"):
        chosen = [c for c in cases if generation in c["expected"]]
        if not chosen:
            continue
        databases = create_databases(stack, f"record{generation}")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(chosen, file)
        with reference(generation, databases.ref_dsn) as url:
            result = run_fuzzer(
                runner_env(generation, databases, url), "--generation", generation, "--replay", file.name
            )
        by_name = {line["name"]: line for line in result.lines if line.get("type") == "replay"}
        for case in chosen:
            line = by_name[case["name"]]
            expected: dict[str, Any] = {"outcome": line["reference"]}
            if "wireReference" in line:
                expected["wire"] = line["wireReference"]
            case["expected"][generation] = expected
            status = "agrees" if line["same"] else "DIFFERS"
            say(f"{generation}:{case['name']}: recorded; Breakwater {status}")
    path.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generation", choices=["6", "7", "both"], default="both")
    parser.add_argument("--count", type=int, default=20000, help="operations per generation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--jobs", type=int, default=1, help="runners per generation, each on its own databases"
    )
    parser.add_argument("--record-cases", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-conformance-") as tmp:
        with Stack(StackConfig(root=Path(tmp), durable=False), progress=say) as stack:
            if args.record_cases:
                record_cases(stack)
                return
            found: list[dict[str, Any]] = []

            def run(generation: str) -> None:
                started = time.monotonic()
                say(f"Prisma {generation}: {args.count} operations, seed {args.seed}, {args.jobs} job(s)")
                found.extend(fuzz(stack, generation, args.seed, args.count, args.jobs))
                say(f"Prisma {generation}: done in {time.monotonic() - started:.0f}s")

            # Both generations at once on the one stack: each has its own databases and runners.
            generations = ("6", "7") if args.generation == "both" else (args.generation,)
            threads = [threading.Thread(target=run, args=(g,)) for g in generations]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()

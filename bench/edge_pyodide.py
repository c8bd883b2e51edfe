"""The edge's hit path under Pyodide and CPython, in one run: `EdgeApp.handle` timed in-process
(bench/edge_hitpath.py) for a cache hit, a miss and the floor, in each runtime.

    .venv/bin/python bench/edge_pyodide.py [--requests 4000] [--profile 2000]

Pyodide is npm `pyodide` (package.json: the version of Cloudflare Python Workers), run by Node
offline (bench/edge_pyodide.mjs); CPython is this interpreter. The origin is a stub port in the
same process that answers at once, so a miss is the edge's own work around an origin call (the
origin is not what is timed). Prints p50/p99 per runtime, hit/floor and Pyodide/CPython ratios, and
with --profile a cProfile listing of that many hits in each runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "edge"), str(ROOT), str(ROOT / "bench")]

import edge_hitpath  # noqa: E402

LABELS = ("floor", "health", "hit", "cold", "miss")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def under_pyodide(n: int, rounds: int, profile: int) -> dict[str, Any]:
    result = subprocess.run(
        ["node", str(ROOT / "bench/edge_pyodide.mjs"), str(ROOT), str(n), str(rounds), str(profile)],
        capture_output=True, text=True, cwd=ROOT, timeout=1800, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        lines = [line[:300] for line in result.stderr.splitlines() if len(line) < 2000]  # minified JS
        raise SystemExit("pyodide run failed:\n" + "\n".join(lines[-40:]))
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def report(runs: dict[str, dict[str, Any]]) -> None:
    figures = {
        name: {label: percentiles(run["samples"][label]) for label in LABELS} for name, run in runs.items()
    }
    print(f"{'':18}{'n':>6}{'p50 µs':>10}{'p99 µs':>10}")
    for name, run in runs.items():
        for label in LABELS:
            p50, p99 = figures[name][label]
            count = len(run["samples"][label])
            print(f"{name + ' ' + label:18}{count:>6}{p50 * 1000:>10.1f}{p99 * 1000:>10.1f}")
    print()
    for name in runs:
        f = figures[name]
        print(
            f"{name:9} hit/floor p50 {f['hit'][0] / f['floor'][0]:5.2f}x"
            f" p99 {f['hit'][1] / f['floor'][1]:5.2f}x"
            f"   hit/health p50 {f['hit'][0] / f['health'][0]:6.2f}x"
            f"   hit-floor p50 {(f['hit'][0] - f['floor'][0]) * 1000:7.1f} µs"
            f"   cold/hit p50 {f['cold'][0] / f['hit'][0]:5.2f}x"
        )
    if len(runs) == 2:
        p, c = figures["pyodide"], figures["cpython"]
        print(
            "pyodide/cpython   "
            + "   ".join(f"{label} p50 {p[label][0] / c[label][0]:5.2f}x" for label in LABELS)
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000, help="samples per label and runtime")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved blocks of the labels")
    parser.add_argument("--profile", type=int, default=0, help="also profile this many hits")
    parser.add_argument("--only", choices=("pyodide", "cpython"), help="one runtime")
    args = parser.parse_args()
    runs: dict[str, dict[str, Any]] = {}
    if args.only != "cpython":
        runs["pyodide"] = under_pyodide(args.requests, args.rounds, args.profile)
    if args.only != "pyodide":
        runs["cpython"] = asyncio.run(edge_hitpath.run(args.requests, args.rounds, args.profile))
        runs["cpython"]["version"] = sys.version.split()[0]
    for name, run in runs.items():
        if run["profile"]:
            print(f"--- {name} {run['version']}: cProfile of {args.profile} hits\n{run['profile']}")
    print(" / ".join(f"{name} {run['version']}" for name, run in runs.items()))
    report(runs)


if __name__ == "__main__":
    main()

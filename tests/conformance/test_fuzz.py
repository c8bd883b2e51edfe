"""The differential fuzzer in CI: a fixed seed budget per client generation, Breakwater against
Prisma's own engine (Prisma 6: the query compiler with @prisma/adapter-pg; Prisma 7: the
query-plan executor), the real client on both sides. Any difference fails the test with its
shrunk reproduction. The long run is `bench/conformance.py` (README: Conformance).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from bwdev.stack import Stack
from tests.conformance.harness import create_databases, query_plan_executor, run_fuzzer, runner_env

pytestmark = [pytest.mark.e2e, pytest.mark.node]

# Operations per generation in CI (about a minute each on a shared 2-core machine); the seed is
# fixed so a failure reproduces, and moves only when someone chooses to look at new ground.
BUDGET = {"6": 250, "7": 500}
SEED = 20261205


@contextlib.contextmanager
def reference(generation: str, dsn: str) -> Iterator[str]:
    if generation == "7":
        with query_plan_executor(dsn) as url:
            yield url
    else:
        yield ""


@pytest.mark.parametrize("generation", ["6", "7"])
def test_fuzzer_finds_no_difference_from_prisma(stack: Stack, generation: str) -> None:
    databases = create_databases(stack, f"fuzz{generation}")
    with reference(generation, databases.ref_dsn) as url:
        env = runner_env(generation, databases, url)
        args = ["--generation", generation, "--seed", str(SEED), "--count", str(BUDGET[generation])]
        result = run_fuzzer(env, *args, timeout=600)
    found = "\n".join(json.dumps(m, indent=1)[:6000] for m in result.mismatches)
    assert result.mismatches == [], f"differences from Prisma (shrunk):\n{found}"
    assert result.summary["operations"] == BUDGET[generation]

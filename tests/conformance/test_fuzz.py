"""The differential fuzzer in CI: a fixed seed budget per client generation (conftest.py:
FUZZ_BUDGET, FUZZ_SEED, FUZZ_JOBS), Breakwater against Prisma's own engine (Prisma 6: the query compiler with
@prisma/adapter-pg; Prisma 7: the query-plan executor), the real client on both sides. Any
difference fails the test with its shrunk reproduction. The long run is `bench/conformance.py`
(README: Conformance).
"""

from __future__ import annotations

import json

import pytest

from tests.conformance.conftest import FUZZ_BUDGET, ConformanceRuns

pytestmark = [pytest.mark.e2e, pytest.mark.node]


@pytest.mark.parametrize("generation", ["6", "7"])
def test_fuzzer_finds_no_difference_from_prisma(conformance_runs: ConformanceRuns, generation: str) -> None:
    results = conformance_runs.fuzzed(generation)
    mismatches = [m for result in results for m in result.mismatches]
    found = "\n".join(json.dumps(m, indent=1)[:6000] for m in mismatches)
    assert mismatches == [], f"differences from Prisma (shrunk):\n{found}"
    assert sum(result.summary["operations"] for result in results) == FUZZ_BUDGET[generation]

"""Every difference the fuzzer ever found, as a fixed case (cases.json): its seed data, the writes
before it and the operation, with what Prisma's own engine answered when it was found. Each case
runs through the real client against Breakwater and against the reference; both must give the
recorded answer (for Prisma 7 raw queries, the answer on the wire too). The cases are replayed by
a few runners side by side (conftest.py).
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import GENERATIONS, ConformanceRuns, cases_of

pytestmark = [pytest.mark.e2e, pytest.mark.node]


def _ids() -> list[str]:
    return [f"{g}:{c['name']}" for g in GENERATIONS for c in cases_of(g)]


@pytest.mark.parametrize("case", _ids())
def test_fuzzer_case_answers_as_prisma_did(conformance_runs: ConformanceRuns, case: str) -> None:
    generation, name = case.split(":", 1)
    expected = next(c for c in cases_of(generation) if c["name"] == name)["expected"][generation]
    got = conformance_runs.replayed(generation)[name]
    assert got["breakwater"] == expected["outcome"], got.get("breakwaterError")
    assert got["reference"] == expected["outcome"], (
        f"Prisma's own engine no longer answers as recorded: {got.get('referenceError')}"
    )
    if "wire" in expected:
        assert got["wireBreakwater"] == expected["wire"]
        assert got["wireReference"] == expected["wire"]

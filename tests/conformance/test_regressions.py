"""Every difference the fuzzer ever found, as a fixed case (cases.json): its seed data, the writes
before it and the operation, with what Prisma's own engine answered when it was found. Each case
runs through the real client against Breakwater and against the reference; both must give the
recorded answer (for Prisma 7 raw queries, the answer on the wire too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bwdev.stack import Stack
from tests.conformance.harness import HERE, create_databases, run_fuzzer, runner_env
from tests.conformance.test_fuzz import reference

pytestmark = [pytest.mark.e2e, pytest.mark.node]

CASES = HERE / "cases.json"


def cases_of(generation: str) -> list[dict[str, Any]]:
    return [c for c in json.loads(CASES.read_text()) if generation in c["expected"]]


@pytest.fixture(scope="module")
def replayed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case replayed on both sides, by generation and case name."""
    out: dict[str, dict[str, Any]] = {}
    for generation in ("6", "7"):
        databases = create_databases(stack, f"regr{generation}")
        path = Path(tmp_path_factory.mktemp("cases")) / f"cases{generation}.json"
        path.write_text(json.dumps(cases_of(generation)))
        with reference(generation, databases.ref_dsn) as url:
            result = run_fuzzer(
                runner_env(generation, databases, url), "--generation", generation, "--replay", str(path)
            )
        for line in result.lines:
            if line.get("type") == "replay":
                out[f"{generation}:{line['name']}"] = line
    return out


def _ids() -> list[str]:
    return [f"{g}:{c['name']}" for g in ("6", "7") for c in cases_of(g)]


@pytest.mark.parametrize("case", _ids())
def test_fuzzer_case_answers_as_prisma_did(replayed: dict[str, dict[str, Any]], case: str) -> None:
    generation, name = case.split(":", 1)
    expected = next(c for c in cases_of(generation) if c["name"] == name)["expected"][generation]
    got = replayed[case]
    assert got["breakwater"] == expected["outcome"]
    assert got["reference"] == expected["outcome"], "Prisma's own engine no longer answers as recorded"
    if "wire" in expected:
        assert got["wireBreakwater"] == expected["wire"]
        assert got["wireReference"] == expected["wire"]

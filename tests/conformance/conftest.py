"""The conformance runs of the selected tests, all started at once.

Each run is a Node runner on two databases of its own (the fuzzer's CI budget for one client
generation, or a share of the regression cases of one), and spends most of its time waiting on
round trips through the stack and Postgres. Started side by side when the first conformance test
asks for one, they take about as long as the longest instead of the sum; each test then waits for
its own run.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from bwdev.stack import Stack
from tests.conformance.harness import HERE, FuzzResult, fuzz_budget, generate_clients, replay_cases

GENERATIONS = ("6", "7")
# Runners per generation sharing its regression cases (each case reseeds, so any split works).
REPLAY_SHARDS = 2
# The fuzzer's operations per generation in CI; the seed is fixed so a failure reproduces, and
# moves only when someone chooses to look at new ground.
FUZZ_BUDGET = {"6": 250, "7": 500}
FUZZ_SEED = 20261205
# Runners sharing a generation's budget (seeds FUZZ_SEED, FUZZ_SEED + 1, ...): Prisma 6's
# operations are the slower ones (its reference is a client of its own in the runner).
FUZZ_JOBS = {"6": 2, "7": 1}


@functools.cache
def cases_of(generation: str) -> list[dict[str, Any]]:
    """The regression cases (cases.json) recorded for `generation`."""
    return [c for c in json.loads((HERE / "cases.json").read_text()) if generation in c["expected"]]


@dataclass
class ConformanceRuns:
    fuzz: dict[str, list[Future[FuzzResult]]]
    replays: dict[str, list[Future[FuzzResult]]]

    def fuzzed(self, generation: str) -> list[FuzzResult]:
        return [job.result() for job in self.fuzz[generation]]

    def replayed(self, generation: str) -> dict[str, dict[str, Any]]:
        """The replay lines of `generation`'s cases, by case name."""
        return {
            line["name"]: line
            for shard in self.replays[generation]
            for line in shard.result().lines
            if line.get("type") == "replay"
        }


def _selected(session: pytest.Session) -> tuple[set[str], set[str]]:
    """The generations whose fuzz run, and whose regression replay, the selected tests need."""
    fuzz: set[str] = set()
    replay: set[str] = set()
    for item in session.items:
        params = getattr(item, "callspec", None)
        if params is None:
            continue
        if item.path.name == "test_fuzz.py":
            fuzz.add(params.params["generation"])
        elif item.path.name == "test_regressions.py":
            replay.add(params.params["case"].split(":", 1)[0])
    return fuzz, replay


@pytest.fixture(scope="session")
def conformance_runs(
    stack: Stack, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConformanceRuns]:
    fuzz, replay = _selected(request.session)
    for generation in sorted(fuzz | replay):
        generate_clients(generation)  # once, before runners share it
    tmp = tmp_path_factory.mktemp("conformance")
    workers = sum(FUZZ_JOBS[g] for g in fuzz) + REPLAY_SHARDS * len(replay)
    with ThreadPoolExecutor(max_workers=workers or 1) as pool:
        runs = ConformanceRuns(fuzz={}, replays={})
        for generation in sorted(replay):
            cases = cases_of(generation)
            runs.replays[generation] = [
                pool.submit(
                    replay_cases,
                    stack,
                    generation,
                    cases[shard::REPLAY_SHARDS],
                    tmp / f"cases{generation}-{shard}.json",
                    f"regr{generation}s{shard}",
                )
                for shard in range(REPLAY_SHARDS)
            ]
        for generation in sorted(fuzz):
            jobs = FUZZ_JOBS[generation]
            runs.fuzz[generation] = [
                pool.submit(
                    fuzz_budget,
                    stack,
                    generation,
                    FUZZ_SEED + job,
                    FUZZ_BUDGET[generation] // jobs + (1 if job < FUZZ_BUDGET[generation] % jobs else 0),
                )
                for job in range(jobs)
            ]
        yield runs

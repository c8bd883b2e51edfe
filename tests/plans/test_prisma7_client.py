"""The real Prisma Client 7.10 (tests/prisma7, generated offline) against our edge, with and without the
`relationJoins` preview feature. Every check in tests/prisma7/checks.mjs is one test here; the Node
script runs once per generated client and asserts whole results itself."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from bwdev.stack import Stack
from tests.plans.conftest import NODE_PROJECT, generate_client, tenant_with_tables

pytestmark = [pytest.mark.e2e, pytest.mark.node]

CHECKS = re.findall(r'^check\("([^"]+)"', (NODE_PROJECT / "checks.mjs").read_text(), re.MULTILINE)
_results: dict[str, dict[str, dict[str, Any]]] = {}


async def _run_checks(stack: Stack, variant: str) -> dict[str, dict[str, Any]]:
    if variant not in _results:
        client = generate_client(variant)
        tenant = await tenant_with_tables(stack, f"p7{variant}")
        url = tenant.url.replace("prisma+postgres://localhost", "prisma+postgres://127.0.0.1")
        done = subprocess.run(
            ["node", "checks.mjs", str(client), url],
            cwd=NODE_PROJECT,
            capture_output=True,
            text=True,
            timeout=240,
        )
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        _results[variant] = {line["name"]: line for line in lines}
        if not lines:
            pytest.fail(f"checks.mjs printed no results:\n{done.stdout}\n{done.stderr}")
    return _results[variant]


def test_the_checks_are_found() -> None:
    assert len(CHECKS) >= 25
    assert len(set(CHECKS)) == len(CHECKS)


@pytest.mark.parametrize("variant", ["joins", "plain"])
@pytest.mark.parametrize("check", CHECKS)
async def test_prisma_client_7(stack: Stack, variant: str, check: str) -> None:
    results = await _run_checks(stack, variant)
    assert check in results, f"{check!r} did not run"
    outcome = results[check]
    assert outcome["ok"], outcome.get("error")

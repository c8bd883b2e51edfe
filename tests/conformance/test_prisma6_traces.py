"""Prisma 6 with OpenTelemetry tracing (@prisma/instrumentation): the client asks for the engine's
spans (`X-Capture-Telemetry: tracing`) and places what `extensions.traces` brings under its own
operation span: `prisma:engine:query` for the request, `prisma:engine:db_query` per statement."""

from __future__ import annotations

import json
import subprocess

import pytest

from bwdev.stack import Stack
from tests.conformance.harness import HERE, create_databases, runner_env

pytestmark = [pytest.mark.e2e, pytest.mark.node]


def test_engine_spans_come_back_under_the_clients_operation(stack: Stack) -> None:
    env = runner_env("6", create_databases(stack, "traces"))
    done = subprocess.run(
        ["node", str(HERE / "traces.cjs")], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    spans = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    by_name = {s["name"]: s for s in spans}
    operation, query, db = (
        by_name["prisma:client:operation"],
        by_name["prisma:engine:query"],
        by_name["prisma:engine:db_query"],
    )
    assert operation["attributes"] == {"method": "findMany", "model": "User", "name": "User.findMany"}
    assert query["parent"] == operation["id"]
    assert db["parent"] == query["id"]
    assert db["attributes"]["db.system"] == "postgresql"
    assert (
        db["attributes"]["db.query.text"].startswith("SELECT")
        and '"public"."users"' in db["attributes"]["db.query.text"]
    )

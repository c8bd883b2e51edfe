"""Running a Node load generator (a real Prisma client) for one phase of a benchmark."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any


def node_workload(
    argv: list[str], cwd: Path, seconds: float, label: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `node argv...` for about `seconds` and return the JSON figures it prints last. A script
    that fails, prints no figures or counts errors stops the benchmark: its figures would mislead."""
    done = subprocess.run(
        ["node", *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"workload {label} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result["errors"]:
        raise RuntimeError(f"workload {label} had {result['errors']} errors:\n{done.stderr}")
    return result

"""`wrangler deploy --dry-run` bundles the Worker offline, with the edge package and the Workers SDK."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.node


def test_wrangler_bundles_the_worker(tmp_path: Path) -> None:
    result = subprocess.run(
        ["npx", "--no-install", "wrangler", "deploy", "--dry-run", "--outdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        check=False,
        env={**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "worker.py").exists()
    assert (tmp_path / "workerports.py").exists()
    assert (tmp_path / "python_modules/workers/__init__.py").exists()
    assert "bwedge/app.py" in result.stdout
    assert "REVOCATIONS" in result.stdout  # the Durable Object binding is declared
    assert "TAG_VERSIONS" in result.stdout  # and the cache's
    assert "bwedge/cache/layer.py" in result.stdout
    assert "bwcontract/keys.py" in result.stdout  # the contract the edge shares with the origin
    bundled = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py")}
    assert not any(name.startswith(("origin/", "hosts/", "edge_local/", "tests/")) for name in bundled)

"""The README works verbatim: `scripts/dev` in a fresh home, then every shell and Python block of the
README in order, with the output the README shows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hosts.ports import free_ports
from tests.conftest import PROJECT_ROOT
from tests.e2e import readme_blocks
from tests.e2e.test_dev_script import wait_for_url

pytestmark = pytest.mark.e2e

README = PROJECT_ROOT / "README.md"


def test_matching_allows_ellipses_within_and_across_lines() -> None:
    assert readme_blocks.matches(["a…c"], "abbbc\n")
    assert not readme_blocks.matches(["a…c"], "abbbd\n")
    assert readme_blocks.matches(["x", "…", "z"], "x\n1\n2\nz\n")
    assert readme_blocks.matches(["x", "…"], "x\n")
    assert not readme_blocks.matches(["x"], "x\ny\n")


def test_every_skipped_block_says_why_and_every_block_is_closed() -> None:
    found = readme_blocks.blocks(README.read_text())
    assert found, "the README has no code blocks"
    runnable = [b for b in found if b.skip is None and b.language in ("sh", "python")]
    assert len(runnable) >= 5, "the README's examples should run"
    assert all(b.skip.strip() for b in found if b.skip is not None)


def test_the_readme_runs_verbatim_against_a_fresh_dev_stack(tmp_path: Path) -> None:
    home = tmp_path / "home"
    edge_port, origin_port, hosts_port = free_ports(3)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BREAKWATER_")},
        "BREAKWATER_HOME": str(home),
        "BREAKWATER_ORIGIN_PORT": str(origin_port),
        "BREAKWATER_HOSTS_PORT": str(hosts_port),
    }
    log = tmp_path / "dev.log"
    with open(log, "w") as stderr:
        dev = subprocess.Popen(
            [str(PROJECT_ROOT / "scripts/dev"), "--port", str(edge_port)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
        )
    try:
        url = wait_for_url(dev, log)
        assert url == json.loads((home / "dev.json").read_text())["url"]
        text, checks = readme_blocks.script(README.read_text(), sys.executable, tmp_path)
        (tmp_path / "readme.sh").write_text(text)
        result = subprocess.run(
            ["bash", str(tmp_path / "readme.sh")],
            capture_output=True,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
            timeout=600,
            check=False,
        )
        outputs = readme_blocks.outputs(result.stdout, len(checks))
        for check, output in zip(checks, outputs, strict=False):
            assert readme_blocks.matches(check.expected, output), (
                f"README line {check.line}: expected\n" + "\n".join(check.expected) + f"\n--- got\n{output}"
            )
        assert result.returncode == 0, (
            f"the README's commands failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        assert len(outputs) == len(checks)
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=60) == 0, log.read_text()[-3000:]


def _names_read_by_the_code() -> set[str]:
    """Every BREAKWATER_* variable the code reads, and the edge's settings (their ENV_NAMES lists and
    EdgeConfig)."""
    found: set[str] = set()
    for folder in ("origin", "hosts", "breakwater", "edge", "edge_local"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            found.update(re.findall(r'"(BREAKWATER_[A-Z0-9_]+)"', path.read_text()))
            found.update(re.findall(r'(?:env\.get|number)\("([A-Z][A-Z0-9_]+)"', path.read_text()))
    found.update(re.findall(r"BREAKWATER_[A-Z0-9_]+", (PROJECT_ROOT / "scripts/install").read_text()))
    return found


def test_every_setting_the_code_reads_is_in_the_readme_table() -> None:
    text = README.read_text()
    table = text[text.index("Every setting, with its default") : text.index("## Troubleshooting")]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    # "`NAME` / `_PREVIOUS`" names NAME_PREVIOUS too.
    for row in table.splitlines():
        suffixes = re.findall(r"`(_[A-Z0-9_]+)`", row)
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row):
            listed.update(name + suffix for suffix in suffixes)
    # A prefix the code completes ("BREAKWATER_LIMIT_" + name) is listed by its full names.
    missing = sorted(n for n in _names_read_by_the_code() - listed if not n.endswith("_"))
    assert not missing, f"settings the code reads but the README's table does not list: {missing}"

"""`scripts/dev` comes up on a fresh home, prints a URL that curl can use, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import pytest

from hosts.ports import free_port
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.e2e


def wait_for_url(process: subprocess.Popen[str], log: Path, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"scripts/dev exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if line.strip().startswith("prisma+postgres://"):
            return line.strip()
    raise AssertionError("scripts/dev printed no URL in time")


async def test_scripts_dev_serves_rows_to_curl_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    edge_port = free_port()
    env = {
        **os.environ,
        "BREAKWATER_HOME": str(tmp_path / "home"),
        "BREAKWATER_ORIGIN_PORT": str(free_port()),
        "BREAKWATER_HOSTS_PORT": str(free_port()),
    }
    log = tmp_path / "dev.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [str(PROJECT_ROOT / "scripts/dev"), "--port", str(edge_port)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
        )
    try:
        url = wait_for_url(process, log)
        info = json.loads((tmp_path / "home/dev.json").read_text())
        assert url == info["url"] and info["edge_url"] == f"http://127.0.0.1:{edge_port}"
        assert set(info) >= {
            "edge_url",
            "origin_url",
            "hosts_url",
            "database",
            "api_key",
            "url",
            "postgres_dsn",
        }
        conn = await asyncpg.connect(info["postgres_dsn"])
        await conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        await conn.execute("INSERT INTO notes VALUES (1, 'hello'), (2, 'world')")
        await conn.close()
        key = url.split("api_key=", 1)[1]
        curl = subprocess.run(
            [
                "curl",
                "-sS",
                f"{info['edge_url']}/v1/query?api_key={key}",
                "-H",
                "content-type: application/json",
                "-d",
                '{"modelName":"notes","action":"findMany","query":{"arguments":{},"selection":{"$scalars":true}}}',
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert json.loads(curl.stdout) == {"data": [{"id": 1, "body": "hello"}, {"id": 2, "body": "world"}]}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    # Everything it started is gone: nothing listens on the edge port, no postmaster is left.
    assert not list((tmp_path / "home").rglob("postmaster.pid"))
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", edge_port), timeout=1).close()

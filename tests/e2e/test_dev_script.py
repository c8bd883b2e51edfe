"""`scripts/dev` comes up on a fresh home, prints a URL that curl can use, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from hosts.ports import free_ports
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
    edge_port, origin_port, hosts_port = free_ports(3)
    env = {
        **os.environ,
        "BREAKWATER_HOME": str(tmp_path / "home"),
        "BREAKWATER_ORIGIN_PORT": str(origin_port),
        "BREAKWATER_HOSTS_PORT": str(hosts_port),
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


def _start_dev(
    home: Path, edge_port: int, log: Path, origin_port: int, hosts_port: int, *extra: str
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BREAKWATER_HOME": str(home),
        "BREAKWATER_ORIGIN_PORT": str(origin_port),
        "BREAKWATER_HOSTS_PORT": str(hosts_port),
    }
    with open(log, "w") as stderr:
        return subprocess.Popen(
            [str(PROJECT_ROOT / "scripts/dev"), "--port", str(edge_port), *extra],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
        )


def _refused(process: subprocess.Popen[str], log: Path) -> str:
    """A start that must be refused: it exits 1 at once with a message, never a traceback."""
    assert process.wait(timeout=120) == 1
    text = log.read_text()
    assert "Traceback" not in text, text
    return text


def test_a_second_start_is_refused_and_a_later_start_on_other_ports_prints_their_url(
    tmp_path: Path,
) -> None:
    ports = free_ports(6)
    first_log = tmp_path / "first.log"
    first = _start_dev(tmp_path / "home", ports[0], first_log, ports[1], ports[2])
    try:
        url = wait_for_url(first, first_log)
        assert f"127.0.0.1:{ports[0]}/" in url

        # The same home again (other ports): refused by the first runner's lock, which is untouched.
        again_log = tmp_path / "again.log"
        text = _refused(_start_dev(tmp_path / "home", ports[3], again_log, ports[4], ports[5]), again_log)
        assert "another Breakwater stack is running from" in text and "BREAKWATER_HOME=" in text

        # Another home on the first stack's ports: told which port is taken and how to pick others;
        # nothing is sent to the first stack's services.
        other_log = tmp_path / "other.log"
        text = _refused(_start_dev(tmp_path / "other", ports[0], other_log, ports[1], ports[2]), other_log)
        assert f"port {ports[0]} (edge) is in use by another program" in text
        assert "scripts/dev --port" in text
        assert not (tmp_path / "other" / "dev.json").exists()

        # Only the first runner ever created a database: the refused ones talked to nobody.
        assert first_log.read_text().count("first run: creating database 'default'") == 1
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0, first_log.read_text()[-3000:]

    # A later start on other ports, with two origins, prints, and records, a URL with the new edge
    # port, and both origins, each answering as itself.
    later_log = tmp_path / "later.log"
    later = _start_dev(tmp_path / "home", ports[3], later_log, ports[4], ports[5], "--origins", "2")
    try:
        url = wait_for_url(later, later_log)
        info = json.loads((tmp_path / "home/dev.json").read_text())
        assert url == info["url"] and f"127.0.0.1:{ports[3]}/" in url
        assert info["edge_url"] == f"http://127.0.0.1:{ports[3]}"
        assert sorted(info["origin_urls"]) == ["o1", "o2"]
        assert info["origin_urls"]["o1"] == f"http://127.0.0.1:{ports[4]}"
        edge_health = httpx.get(info["edge_url"] + "/_bw/health").json()
        assert edge_health["origins"] == {"o1": "up", "o2": "up"}
        for origin_url in info["origin_urls"].values():
            assert httpx.get(origin_url + "/_bw/health").status_code == 200
    finally:
        later.send_signal(signal.SIGINT)
        assert later.wait(timeout=60) == 0, later_log.read_text()[-3000:]

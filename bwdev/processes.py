"""The stack runner's child processes and files: ports, health checks, process groups, private files.

Each service runs in a process group of its own (so stopping it stops what it started), answers a
health check with the instance id the runner gave it, and writes only files private to its user.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx


class StackError(Exception):
    pass


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `port` now (SO_REUSEADDR, as servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def answers_as(client: httpx.Client, url: str, instance_id: str, name: str) -> bool:
    """True once the service we started answers its health check; an answer from anyone else (a
    program that took the port after the check) is an error, not a success."""
    try:
        response = client.get(url)
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    with contextlib.suppress(ValueError, AttributeError):
        if response.json().get("instance") == instance_id:
            return True
    raise StackError(f"something else answers on {url}: not the {name} this runner started")


def terminate(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_exited(pid: int, timeout: float = 60) -> None:
    """Until `pid` is gone, or a zombie: another process (the host agent) is its parent and reaps it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.005)
    raise StackError(f"process {pid} did not exit within {timeout}s")


def make_private(root: Path) -> None:
    """What a stack from before the umask left readable to others: its logs, the local edge's state,
    dev.json. (The root itself may have to stay passable for the Postgres service user.)"""
    for folder in (root / "logs", root / "edge"):
        if folder.is_dir():
            folder.chmod(0o700)
            for path in folder.rglob("*"):
                path.chmod(0o700 if path.is_dir() else 0o600)
    for name in ("dev.json", "stack.json", "secrets.json"):
        if (root / name).exists():
            (root / name).chmod(0o600)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"

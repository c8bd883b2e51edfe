"""The dev stack in the foreground: `scripts/dev` → `breakwater dev`."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bwservice.serve import PRIVATE_UMASK

from .processes import StackError, port_is_free
from .stack import PROJECT_ROOT, AlreadyRunning, PortTaken, Stack, StackConfig

DEFAULT_EDGE_PORT = 8787


def _say(message: str) -> None:
    print(f"breakwater: {message}", file=sys.stderr, flush=True)


def dev_home() -> Path:
    return Path(os.environ.get("BREAKWATER_HOME", PROJECT_ROOT / ".breakwater"))


def dev_ports(edge_port: int | None) -> dict[str, int]:
    """The edge on `--port` (8787), the origin and the host agent on the next two unless
    BREAKWATER_ORIGIN_PORT / BREAKWATER_HOSTS_PORT say otherwise."""
    edge = edge_port or DEFAULT_EDGE_PORT
    return {
        "edge": edge,
        "origin": int(os.environ.get("BREAKWATER_ORIGIN_PORT") or edge + 1),
        "hosts": int(os.environ.get("BREAKWATER_HOSTS_PORT") or edge + 2),
    }


def run_dev(wrangler: bool = False, edge_port: int | None = None) -> None:
    os.umask(PRIVATE_UMASK)  # .breakwater holds secrets and tenant data
    root = dev_home()
    ports = dev_ports(edge_port)
    stack = Stack(
        StackConfig(
            root=root,
            edge_port=ports["edge"],
            origin_port=ports["origin"],
            hosts_port=ports["hosts"],
            edge_mode="wrangler" if wrangler else "local",
        ),
        progress=_say,
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        stack.start()
    except AlreadyRunning as exc:
        _say(f"could not start: {exc}.")
        _say(
            f"its URL is in {root / 'dev.json'}; stop it with Ctrl-C in its terminal, or run a second "
            "stack with its own home and ports: BREAKWATER_HOME=/tmp/bw2 scripts/dev --port "
            f"{_free_triple(ports['edge'] + 10)}"
        )
        sys.exit(1)
    except PortTaken as exc:
        _say(f"could not start: {exc}.")
        _say(
            f"pick other ports: scripts/dev --port {_free_triple(ports['edge'] + 10)} (the origin and "
            "the host agent take the next two), or set BREAKWATER_ORIGIN_PORT / BREAKWATER_HOSTS_PORT"
        )
        sys.exit(1)
    except StackError as exc:
        _say(f"could not start: {exc}")
        _say(f"the services' logs are in {root / 'logs'}")
        sys.exit(1)
    try:
        try:
            info = _first_run_database(stack, root)
        except StackError as exc:
            _say(f"could not prepare the default database: {exc}")
            _say(f"the services' logs are in {root / 'logs'}")
            sys.exit(1)
        print(f"\n  {info['url']}\n", flush=True)
        _say(f"edge {stack.edge_url} · origin {stack.origin_url} · host agent {stack.hosts_url}")
        _say(f"postgres (your database): {info['postgres_dsn']}")
        _say(f"details in {root / 'dev.json'}, logs in {root / 'logs'}; Ctrl-C stops everything")
        stopping.wait()
    finally:
        _say("stopping")
        stack.stop()
        _say("stopped")


def _free_triple(start: int) -> int:
    """The first port from `start` (in steps of 10) where it and the next two are free."""
    for port in range(start, 65000, 10):
        if all(port_is_free(port + i) for i in range(3)):
            return port
    return start


def _first_run_database(stack: Stack, root: Path) -> dict[str, Any]:
    """Create the default database and key once; later runs reuse them. The URLs are rewritten on
    every start: they name this run's ports."""
    path = root / "dev.json"
    if path.exists():
        info: dict[str, Any] = json.loads(path.read_text())
        names = {d["name"] for d in stack.admin("GET", "/admin/databases")["databases"]}
        if info.get("database") in names and info.get("api_key"):
            info.update(
                edge_url=stack.edge_url,
                origin_url=stack.origin_url,
                hosts_url=stack.hosts_url,
                url=stack.connection_url(info["api_key"]),
                admin_token=stack.secrets["admin_token"],
            )
            _write(path, info)
            return info
    _say("first run: creating database 'default'")
    began = time.monotonic()
    info = stack.dev_info(stack.admin("POST", "/admin/databases", {"name": "default"}))
    _say(f"database 'default' created in {time.monotonic() - began:.1f}s")
    _write(path, info)
    return info


def _write(path: Path, info: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)

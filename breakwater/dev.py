"""The dev stack in the foreground: `scripts/dev` → `breakwater dev`."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .serve import PRIVATE_UMASK
from .stack import PROJECT_ROOT, Stack, StackConfig, StackError


def _say(message: str) -> None:
    print(f"breakwater: {message}", file=sys.stderr, flush=True)


def run_dev(wrangler: bool = False, edge_port: int = 8787) -> None:
    os.umask(PRIVATE_UMASK)  # .breakwater holds secrets and tenant data
    root = Path(os.environ.get("BREAKWATER_HOME", PROJECT_ROOT / ".breakwater"))
    stack = Stack(
        StackConfig(
            root=root,
            edge_port=edge_port,
            origin_port=int(os.environ.get("BREAKWATER_ORIGIN_PORT", edge_port + 1)),
            hosts_port=int(os.environ.get("BREAKWATER_HOSTS_PORT", edge_port + 2)),
            edge_mode="wrangler" if wrangler else "local",
        ),
        progress=_say,
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        stack.start()
    except StackError as exc:
        _say(f"could not start: {exc}")
        sys.exit(1)
    try:
        info = _first_run_database(stack, root)
        print(f"\n  {info['url']}\n", flush=True)
        _say(f"edge {stack.edge_url} · origin {stack.origin_url} · host agent {stack.hosts_url}")
        _say(f"postgres (your database): {info['postgres_dsn']}")
        _say("details in .breakwater/dev.json; Ctrl-C stops everything")
        stopping.wait()
    finally:
        _say("stopping")
        stack.stop()
        _say("stopped")


def _first_run_database(stack: Stack, root: Path) -> dict[str, Any]:
    """Create the default database and key once; later runs reuse them."""
    path = root / "dev.json"
    if path.exists():
        info: dict[str, Any] = json.loads(path.read_text())
        names = {d["name"] for d in stack.admin("GET", "/admin/databases")["databases"]}
        if info.get("database") in names:
            info.update(edge_url=stack.edge_url, origin_url=stack.origin_url, hosts_url=stack.hosts_url)
            _write(path, info)
            return info
    _say("first run: creating database 'default'")
    info = stack.dev_info(stack.admin("POST", "/admin/databases", {"name": "default"}))
    _write(path, info)
    return info


def _write(path: Path, info: dict[str, Any]) -> None:
    path.write_text(json.dumps(info, indent=2) + "\n")
    path.chmod(0o600)

"""The whole stack on one machine: control-plane Postgres, host agents, origins and edge, on loopback.

`scripts/dev` runs it in the foreground; the tests start one per session in a temporary directory.
Each service is its own process (as in production), started in dependency order and health-checked.
Which services there are (origins and host agents, N of each), their ports, addresses and
environments: stacklayout.py.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bwservice.serve import PRIVATE_UMASK
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user

from .processes import StackError, answers_as, make_private, tail, terminate, wait_exited
from .stacklayout import CONTROL_DATABASE, PROJECT_ROOT, StackConfig, StackLayout

__all__ = [
    "CONTROL_DATABASE",
    "PROJECT_ROOT",
    "AlreadyRunning",
    "PortTaken",
    "Stack",
    "StackConfig",
    "listening_socket",
]


class PortTaken(StackError):
    """A port the stack needs is in use by another program."""

    def __init__(self, service: str, port: int) -> None:
        super().__init__(f"port {port} ({service}) is in use by another program")
        self.service = service
        self.port = port


class AlreadyRunning(StackError):
    """Another runner holds this stack's home."""


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    health_url: str
    instance_id: str
    start_timeout: float = 30.0


class Stack(StackLayout):
    """The stack running: its services started in order and health-checked, stopped, restarted; its
    home locked to this runner (its layout: stacklayout.py)."""

    def __init__(self, config: StackConfig, progress: Callable[[str], None] | None = None) -> None:
        super().__init__(config)
        self.progress = progress or (lambda _msg: None)
        self.services: list[Service] = []
        self._lock: int | None = None  # the open lock file while this runner owns the home
        # Listening sockets on the services' ports, bound before anything starts and handed to each
        # service as it starts: a free port picked now cannot be taken by anyone (an outgoing
        # connection's ephemeral port included) before the service listens on it.
        self._listeners: dict[str, socket.socket] = {}
        self._restarted: list[PostgresInstance] = []

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        """`with Stack(config) as stack:` runs the stack for the block (a failed start cleans up)."""
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            make_private(self.root)
            self._stop_leftovers()
            self._check_ports()
        except BaseException:
            self._release_lock()
            raise
        self.secrets = self._load_secrets()
        started = time.monotonic()
        self.control = PostgresInstance(self.root / "control", service_user())
        if not self.control.exists():
            self.progress("creating the control-plane Postgres (first run only)")
            began = time.monotonic()
            self.control.create(durable=self.config.durable)
            self.progress(f"control-plane Postgres created in {time.monotonic() - began:.1f}s")
        self.progress("starting the control-plane Postgres")
        try:
            self.control.start()
        except BaseException:
            self._close_listeners()
            self._release_lock()
            raise
        asyncio.run(_ensure_database(self.control.dsn("postgres"), CONTROL_DATABASE))
        try:
            if not (self.hosts_root / "instances").exists():
                self.progress("first run: the host agent prepares its Postgres template and shared cluster")
            several = len(self.host_services) > 1
            self.progress(
                "starting the host agents " + ", ".join(self.host_ids)
                if several
                else "starting the host agent"
            )
            origins = "the origin" if self.config.origins == 1 else f"{self.config.origins} origins"
            # Started together, then waited for: services of one kind need nothing of each other (the
            # host agents prepare their templates at once, each its own).
            for names, label in (
                (list(self.host_services), None),
                (self.origin_services, origins),
                (["edge"], "the edge"),
            ):
                if label is not None:
                    self.progress(f"starting {label}")
                for service in [self._launch(name) for name in names]:
                    self._await_healthy(service)
            self._wait_for_hosts()
        except BaseException:
            self.stop()
            raise
        self._write_state()
        self.progress(f"stack up in {time.monotonic() - started:.1f}s")

    def stop(self) -> None:
        for service in reversed(self.services):
            terminate(service.process)
        self.services.clear()
        for postgres in self._restarted:
            postgres.stop()
        self._restarted.clear()
        # Instances run in their own sessions so they outlive agent restarts; stop them here.
        for host_id in self.host_ids:
            for meta in sorted(self.host_root(host_id).glob("instances/*/instance.json")):
                PostgresInstance(meta.parent, service_user()).stop()
        if self.control is not None:
            self.control.stop()
        (self.root / "stack.json").unlink(missing_ok=True)
        self._close_listeners()
        self._release_lock()

    def restart_service(self, name: str, kill: bool = False) -> None:
        """Stop one service (SIGKILL when `kill`, as a crash) and start it again."""
        self.stop_service(name, kill)
        self.start_service(name)

    def stop_service(self, name: str, kill: bool = False) -> None:
        """Stop one service: SIGTERM (it finishes what it does), or SIGKILL when `kill` (a crash)."""
        service = next(s for s in self.services if s.name == name)
        if kill:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()
        else:
            terminate(service.process)
        self.services.remove(service)
        self._write_state()

    def start_service(self, name: str) -> None:
        """Start a stopped service again, on its port."""
        self._await_healthy(self._launch(name))

    def restart_postgres(
        self, instance: str = "shared-1", mode: str = "immediate", host_id: str = "local"
    ) -> None:
        """Stop one of a host's Postgres instances ("immediate" is a crash) and start it again."""
        postgres = PostgresInstance(self.host_root(host_id) / "instances" / instance, service_user())
        pid = postgres.pid()
        if pid is not None:
            sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
            os.kill(pid, sig)
            wait_exited(pid)
        postgres.start()
        self._restarted.append(postgres)  # its process is ours now: stop() reaps it

    # --- the home and its ports -----------------------------------------------------------------

    def _take_lock(self) -> None:
        """One runner per home: a second start is refused while the first one lives. The lock is the
        kernel's (flock), so a runner that crashed or was killed leaves no stale lock behind."""
        if self._lock is not None:
            return
        path = self.root / "stack.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise AlreadyRunning(
                f"another Breakwater stack is running from {self.root}"
                + (f" (runner pid {holder})" if holder else "")
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _check_ports(self) -> None:
        """Bind every service's port before starting anything: a taken port fails the start here
        (otherwise the health checks could be answered by whatever holds it), and one we hold stays
        ours until its service listens on it."""
        for name in self.ports:
            try:
                self._listeners[name] = listening_socket(self.ports[name])
            except OSError:
                self._close_listeners()
                raise PortTaken(name, self.ports[name]) from None

    def _close_listeners(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()

    # --- internals ------------------------------------------------------------------------------

    def _spawn(self, name: str) -> None:
        self._await_healthy(self._launch(name))

    def _launch(self, name: str) -> Service:
        instance_id = self._instance_ids[name] = secrets.token_hex(8)
        argv, env, health_url, timeout = self._service_spec(name)
        env = {**env, "BREAKWATER_INSTANCE_ID": instance_id}
        listener = self._listeners.pop(name, None)
        passed: tuple[int, ...] = ()
        if argv[:2] != [sys.executable, "-m"]:  # wrangler dev binds its port itself
            if listener is not None:
                listener.close()
            listener = None
        else:
            # A restarted service's socket went with its old process: bind the port again.
            listener = listener or listening_socket(self.ports[name])
            argv = [*argv, "--fd", str(listener.fileno())]
            passed = (listener.fileno(),)
        logs = self.root / "logs"
        logs.mkdir(mode=0o700, exist_ok=True)
        log_path = logs / f"{name}.log"
        with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches only the runner, which stops services in order
                umask=PRIVATE_UMASK,  # what services write is tenant data or secrets
                pass_fds=passed,
            )
        if listener is not None:
            # The service holds the socket now; ours would keep the port open after it exits (a
            # stopped service must refuse connections, as the fault tests expect).
            listener.close()
        service = Service(name, process, log_path, health_url, instance_id, timeout)
        self.services.append(service)
        return service

    def _await_healthy(self, service: Service) -> None:
        deadline = time.monotonic() + service.start_timeout
        process, name = service.process, service.name
        with httpx.Client(timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    log = tail(service.log_path)
                    raise StackError(f"{name} exited during start-up (code {process.returncode}):\n{log}")
                if answers_as(client, service.health_url, service.instance_id, name):
                    break
                if time.monotonic() > deadline:
                    raise StackError(
                        f"{name} was not healthy after {service.start_timeout}s:\n{tail(service.log_path)}"
                    )
                time.sleep(0.02)
        self._write_state()

    def _load_secrets(self) -> dict[str, str]:
        """secrets.json, with what this run needs and an earlier one did not (another host's token,
        the registration token of a home made before hosts registered) added."""
        path = self.root / "secrets.json"
        loaded: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        wanted = ["key_secret", "service_secret", "admin_token", "hosts_token", "registration_token"]
        wanted += [f"hosts_token_{host_id}" for host_id in self.host_ids if host_id != "local"]
        missing = [name for name in wanted if name not in loaded]
        if missing:
            loaded.update({name: secrets.token_urlsafe(32) for name in missing})
            path.write_text(json.dumps(loaded, indent=2))
            path.chmod(0o600)
        return loaded

    def _wait_for_hosts(self, timeout: float = 30.0) -> None:
        """Until every host agent has registered with the origin (they report as soon as it answers)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                hosts = {h["id"]: h for h in self.admin("GET", "/admin/hosts")["hosts"]}
            except StackError:
                hosts = {}
            if all(hosts.get(h, {}).get("reachable") for h in self.host_ids):
                return
            if time.monotonic() > deadline:
                logs = "\n".join(tail(self.root / "logs" / f"{name}.log") for name in self.host_services)
                raise StackError(f"the host agents did not register with the origin in {timeout}s:\n{logs}")
            time.sleep(0.05)

    def _write_state(self) -> None:
        state = {s.name: s.process.pid for s in self.services if s.process.poll() is None}
        path = self.root / "stack.json"
        path.write_text(json.dumps({"pids": state, "ports": self.ports}))
        path.chmod(0o600)

    def _stop_leftovers(self) -> None:
        """A runner that was killed leaves its services behind: stop them before starting anew."""
        path = self.root / "stack.json"
        if not path.exists():
            return
        for pid in json.loads(path.read_text()).get("pids", {}).values():
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                continue
        path.unlink()

    # --- control-plane operations (what the CLI does) -------------------------------------------

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        with httpx.Client(timeout=60.0) as client:
            response = client.request(
                method,
                self.origin_url + path,
                json=body,
                headers={"authorization": f"Bearer {self.secrets['admin_token']}"},
            )
        if response.status_code >= 400:
            raise StackError(f"{method} {path} failed ({response.status_code}): {response.text}")
        result: dict[str, Any] = response.json()
        return result


def listening_socket(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A socket listening on `port` (as uvicorn would bind it), inheritable by a service."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


async def _ensure_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

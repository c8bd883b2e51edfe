"""The whole stack on one machine: control-plane Postgres, host agent, origin and edge, on loopback.

`scripts/dev` runs it in the foreground; the tests start one per session in a temporary directory.
Each service is its own process (as in production), started in dependency order and health-checked.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bwservice.serve import PRIVATE_UMASK
from hosts.ports import free_port
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user

from .processes import StackError, answers_as, make_private, tail, terminate, wait_exited

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTROL_DATABASE = "breakwater"


class PortTaken(StackError):
    """A port the stack needs is in use by another program."""

    def __init__(self, service: str, port: int) -> None:
        super().__init__(f"port {port} ({service}) is in use by another program")
        self.service = service
        self.port = port


class AlreadyRunning(StackError):
    """Another runner holds this stack's home."""


@dataclass
class StackConfig:
    root: Path
    edge_port: int = 0  # 0: any free port
    origin_port: int = 0
    hosts_port: int = 0
    durable: bool = True
    edge_mode: str = "local"  # local | wrangler
    revocation_ttl: float = 5.0
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    health_url: str
    instance_id: str


class Stack:
    def __init__(self, config: StackConfig, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.root = config.root.resolve()
        self.progress = progress or (lambda _msg: None)
        self.services: list[Service] = []
        self._lock: int | None = None  # the open lock file while this runner owns the home
        self._instance_ids: dict[str, str] = {}  # what each service we started answers on /health
        # Listening sockets on the services' ports, bound before anything starts and handed to each
        # service as it starts: a free port picked now cannot be taken by anyone (an outgoing
        # connection's ephemeral port included) before the service listens on it.
        self._listeners: dict[str, socket.socket] = {}
        self._restarted: list[PostgresInstance] = []
        self.control: PostgresInstance | None = None
        self.secrets: dict[str, str] = {}
        self.ports = {
            "edge": config.edge_port or free_port(),
            "origin": config.origin_port or free_port(),
            "hosts": config.hosts_port or free_port(),
        }

    # --- addresses ------------------------------------------------------------------------------

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['edge']}"

    @property
    def origin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['origin']}"

    @property
    def hosts_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['hosts']}"

    @property
    def hosts_root(self) -> Path:
        return self.root / "hosts"

    # --- lifecycle ------------------------------------------------------------------------------

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
            for name, label in (("hosts", "the host agent"), ("origin", "the origin"), ("edge", "the edge")):
                self.progress(f"starting {label}")
                self._spawn(name)
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
        for meta in sorted(self.hosts_root.glob("instances/*/instance.json")):
            PostgresInstance(meta.parent, service_user()).stop()
        if self.control is not None:
            self.control.stop()
        (self.root / "stack.json").unlink(missing_ok=True)
        self._close_listeners()
        self._release_lock()

    def restart_service(self, name: str, kill: bool = False) -> None:
        """Stop one service (SIGKILL when `kill`, as a crash) and start it again."""
        service = next(s for s in self.services if s.name == name)
        if kill:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()
        else:
            terminate(service.process)
        self.services.remove(service)
        self._spawn(name)

    def restart_postgres(self, instance: str = "shared-1", mode: str = "immediate") -> None:
        """Stop one of the host's Postgres instances ("immediate" is a crash) and start it again."""
        postgres = PostgresInstance(self.hosts_root / "instances" / instance, service_user())
        pid = postgres.pid()
        if pid is not None:
            sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
            os.kill(pid, sig)
            wait_exited(pid)
        postgres.start()
        self._restarted.append(postgres)  # its process is ours now: stop() reaps it

    def _service_spec(self, name: str) -> tuple[list[str], dict[str, str], str, float]:
        """argv, environment, health URL and start-up timeout of a service."""
        if name == "hosts":
            argv = [sys.executable, "-m", "hosts", "--port", str(self.ports["hosts"])]
            return argv, self.env_hosts(), f"{self.hosts_url}/health", 30
        if name == "origin":
            argv = [sys.executable, "-m", "origin", "--port", str(self.ports["origin"])]
            return argv, self.env_origin(), f"{self.origin_url}/_bw/health", 30
        wrangler = self.config.edge_mode == "wrangler"
        return self._edge_argv(), self.env_edge(), f"{self.edge_url}/_bw/health", 120 if wrangler else 30

    # --- environments ---------------------------------------------------------------------------

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
        for name in ("edge", "origin", "hosts"):
            try:
                self._listeners[name] = listening_socket(self.ports[name])
            except OSError:
                self._close_listeners()
                raise PortTaken(name, self.ports[name]) from None

    def _close_listeners(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKWATER_")}
        env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT / "edge"), str(PROJECT_ROOT)])
        env.update(self.config.extra_env)
        return env

    def env_hosts(self) -> dict[str, str]:
        return {
            **self._base_env(),
            "BREAKWATER_HOSTS_ROOT": str(self.hosts_root),
            "BREAKWATER_HOSTS_TOKEN": self.secrets["hosts_token"],
            "BREAKWATER_PG_FAST": "" if self.config.durable else "1",
        }

    def env_origin(self) -> dict[str, str]:
        assert self.control is not None
        return {
            **self._base_env(),
            "BREAKWATER_CONTROL_DSN": self.control.dsn(CONTROL_DATABASE),
            "BREAKWATER_SERVICE_SECRET": self.secrets["service_secret"],
            "BREAKWATER_KEY_SECRET": self.secrets["key_secret"],
            "BREAKWATER_ADMIN_TOKEN": self.secrets["admin_token"],
            "BREAKWATER_HOSTS_URL": self.hosts_url,
            "BREAKWATER_HOSTS_TOKEN": self.secrets["hosts_token"],
            "BREAKWATER_EDGE_URL": self.edge_url,
            "BREAKWATER_ORIGIN_ID": "o1",
            **{k: v for k, v in self.config.extra_env.items() if k.startswith("BREAKWATER_")},
        }

    def env_edge(self) -> dict[str, str]:
        return {
            **self._base_env(),
            "KEY_SECRET": self.secrets["key_secret"],
            "SERVICE_SECRET": self.secrets["service_secret"],
            "ORIGIN_URL": self.origin_url,
            "ORIGIN_ID": "o1",
            "REVOCATION_TTL_SECONDS": str(self.config.revocation_ttl),
            "EDGE_STATE_DIR": str(self.root / "edge"),
            "INSTANCE_ID": self._instance_ids.get("edge", ""),
        }

    def _edge_argv(self) -> list[str]:
        if self.config.edge_mode == "local":
            return [sys.executable, "-m", "edge_local", "--port", str(self.ports["edge"])]
        # wrangler dev reads secrets from .dev.vars beside wrangler.toml.
        dev_vars = PROJECT_ROOT / ".dev.vars"
        env = self.env_edge()
        names = ("KEY_SECRET", "SERVICE_SECRET", "ORIGIN_URL", "ORIGIN_ID", "INSTANCE_ID")
        dev_vars.write_text("".join(f'{k}="{env[k]}"\n' for k in names))
        dev_vars.chmod(0o600)
        return ["npx", "wrangler", "dev", "--ip", "127.0.0.1", "--port", str(self.ports["edge"])]

    # --- internals ------------------------------------------------------------------------------

    def _spawn(self, name: str) -> None:
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
        service = Service(name, process, log_path, health_url, instance_id)
        self.services.append(service)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    raise StackError(
                        f"{name} exited during start-up (code {process.returncode}):\n{tail(log_path)}"
                    )
                if answers_as(client, health_url, instance_id, name):
                    break
                if time.monotonic() > deadline:
                    raise StackError(f"{name} was not healthy after {timeout}s:\n{tail(log_path)}")
                time.sleep(0.02)
        self._write_state()

    def _load_secrets(self) -> dict[str, str]:
        path = self.root / "secrets.json"
        if path.exists():
            loaded: dict[str, str] = json.loads(path.read_text())
            return loaded
        made = {
            name: secrets.token_urlsafe(32)
            for name in ("key_secret", "service_secret", "admin_token", "hosts_token")
        }
        path.write_text(json.dumps(made, indent=2))
        path.chmod(0o600)
        return made

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

    def connection_url(self, api_key: str) -> str:
        """The URL a client uses with `api_key`, through this stack's edge."""
        return f"prisma+postgres://127.0.0.1:{self.ports['edge']}/?api_key={api_key}"

    def dev_info(self, database: dict[str, Any]) -> dict[str, Any]:
        return {
            "edge_url": self.edge_url,
            "origin_url": self.origin_url,
            "hosts_url": self.hosts_url,
            "database": database["database"]["name"],
            "api_key": database["api_key"],
            "url": database["url"],
            "postgres_dsn": database["postgres_dsn"],
            "admin_token": self.secrets["admin_token"],
        }


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

"""One Postgres instance: create it from the machine's PostgreSQL 15 binaries, start, stop.

Start spawns `postgres` directly and watches `postmaster.pid` for the "ready" status rather than
using `pg_ctl -w`, which polls every 100 ms.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypedDict
from urllib.parse import quote

from . import freezer
from .ports import free_port
from .service_user import ServiceUser

PG_BIN = Path(os.environ.get("BREAKWATER_PG_BIN", "/usr/lib/postgresql/15/bin"))

# Small footprint, logical decoding on (change capture needs it), loopback only.
BASE_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "16MB",
    "max_connections": "100",
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "dynamic_shared_memory_type": "posix",
    "huge_pages": "off",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "%m [%p] ",
    "timezone": "UTC",
    "password_encryption": "scram-sha-256",
    # A backend whose client went away (the origin ended a session whose cancelled statement would not
    # stop) notices within a second, even mid-statement, instead of at its next write.
    "client_connection_check_interval": "1s",
}
# For tests and throwaway dev data: fast. A killed process loses at most the commits of the last few
# hundred milliseconds (synchronous_commit off; the OS keeps what was written); power loss, more.
FAST_SETTINGS: dict[str, str] = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresError(Exception):
    pass


def _alive(pid: int) -> bool:
    """Whether `pid` runs. A zombie does not: an exited child of ours that nobody reaped (an agent
    restarted in the same process adopts what it started before) is reaped here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    if state != "Z":
        return True
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return False


class _AsUser(TypedDict):
    user: int | None
    group: int | None
    extra_groups: list[int] | None


@dataclass
class InstanceMeta:
    name: str
    port: int
    superuser: str
    superuser_password: str
    settings: dict[str, str] = field(default_factory=dict)
    # The database the agent's own connections use (dedicated instances have no `postgres` one).
    admin_database: str = "postgres"
    # The freezer group holding the process tree ("" when paused by signals, or never placed).
    group: str = ""


class PostgresInstance:
    """An instance rooted at `root`: `data/` (PGDATA), `instance.json`, `postgres.log`."""

    def __init__(self, root: Path, user: ServiceUser) -> None:
        self.root = root
        self.user = user
        self.data_dir = root / "data"
        self.meta_path = root / "instance.json"
        self.log_path = root / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._meta: InstanceMeta | None = None

    # --- identity -------------------------------------------------------------------------------

    @property
    def meta(self) -> InstanceMeta:
        if self._meta is None:
            self._meta = InstanceMeta(**json.loads(self.meta_path.read_text()))
        return self._meta

    @property
    def port(self) -> int:
        return self.meta.port

    def exists(self) -> bool:
        return self.meta_path.exists() and (self.data_dir / "PG_VERSION").exists()

    def dsn(self, database: str | None = None, user: str | None = None, password: str | None = None) -> str:
        database = database or self.meta.admin_database
        user = user or self.meta.superuser
        password = self.meta.superuser_password if password is None else password
        return (
            f"postgresql://{quote(user)}:{quote(password, safe='')}@127.0.0.1:{self.port}/{quote(database)}"
        )

    # --- lifecycle ------------------------------------------------------------------------------

    def create(
        self,
        *,
        port: int | None = None,
        durable: bool = True,
        settings: dict[str, str] | None = None,
        wal_segment_mb: int | None = None,
    ) -> None:
        """initdb a new cluster with a random superuser password, scram auth on loopback only.

        `wal_segment_mb` below the default 16 keeps small instances small on disk (and quick to copy).
        """
        if self.exists():
            raise PostgresError(f"instance at {self.root} already exists")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self.user.make_dir(self.data_dir)
        self.user.own(self.root)
        meta = InstanceMeta(
            name=self.root.name,
            port=port or free_port(),
            superuser="postgres",
            superuser_password=secrets.token_urlsafe(24),
            settings={**BASE_SETTINGS, **({} if durable else FAST_SETTINGS), **(settings or {})},
        )
        pwfile = self.root / ".pwfile"
        pwfile.write_text(meta.superuser_password + "\n")
        pwfile.chmod(0o600)
        self.user.own(pwfile)
        try:
            self._run_as_service_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    meta.superuser,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    *([] if durable else ["--no-sync"]),
                    *([f"--wal-segsize={wal_segment_mb}"] if wal_segment_mb else []),
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = "\n".join(f"{k} = '{v}'" for k, v in meta.settings.items())
        (self.data_dir / "postgresql.conf").write_text(
            (self.data_dir / "postgresql.conf").read_text() + "\n# breakwater\n" + conf + "\n"
        )
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "local replication all scram-sha-256\n"
            "host replication all 127.0.0.1/32 scram-sha-256\n"
        )
        self._meta = meta
        self.save_meta()

    def apply_settings(self, wanted: dict[str, str]) -> list[str]:
        """Bring the configuration up to `wanted` (an instance made by an older agent may lack a
        setting or hold an old value); returns the names changed. postgresql.conf is read top to
        bottom and the last line of a name wins, so the new values are appended. Settings such as
        max_replication_slots take effect when the postmaster next starts."""
        meta = self.meta
        changed = [name for name, value in wanted.items() if meta.settings.get(name) != value]
        if not changed:
            return []
        conf = self.data_dir / "postgresql.conf"
        lines = "\n".join(f"{name} = '{wanted[name]}'" for name in changed)
        conf.write_text(conf.read_text() + "\n# breakwater: settings of a newer agent\n" + lines + "\n")
        meta.settings = {**meta.settings, **{name: wanted[name] for name in changed}}
        self.save_meta(meta)
        return changed

    def save_meta(self, meta: InstanceMeta | None = None) -> None:
        """Write instance.json atomically (it holds the superuser password: root-only)."""
        meta = meta or self.meta
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(meta), indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.meta_path)
        self._meta = meta

    def pid(self) -> int | None:
        """The postmaster's pid if it is alive (ours or adopted from an earlier agent)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        if self._process is not None and self._process.pid == pid:
            return pid if self._process.poll() is None else None
        return pid if _alive(pid) else None

    def is_ready(self) -> bool:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return False
        if len(lines) < 8 or lines[7].strip() != "ready":
            return False
        if (
            self._process is not None
            and self._process.poll() is None
            and lines[0].strip() != str(self._process.pid)
        ):
            # A lock file left by an earlier postmaster (whose pid someone else may have now): the
            # one we started has not written its own yet.
            return False
        return self.pid() is not None

    def start(self, timeout: float = 60.0) -> None:
        if self.is_ready():
            return
        self.spawn()
        deadline = time.monotonic() + timeout
        while not self.started():
            if time.monotonic() > deadline:
                raise PostgresError(f"postgres did not become ready in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.002)

    def spawn(self) -> int:
        """Start the postmaster without waiting; returns its pid. Poll `started()` for readiness."""
        log = open(self.log_path, "ab")
        try:
            self._process = subprocess.Popen(
                [
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-c",
                    f"unix_socket_directories={self.socket_dir() or ''}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # instances outlive an agent restart
                **self._user_kwargs(),
            )
        finally:
            log.close()
        return self._process.pid

    def started(self) -> bool:
        """Whether the postmaster `spawn()` started is ready; raises if it exited instead."""
        if self.is_ready():
            return True
        if self._process is not None and self._process.poll() is not None:
            raise PostgresError(f"postgres exited during start-up:\n{self.log_tail()}")
        return False

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """Shut down: "fast" rolls back sessions and checkpoints; "immediate" is a crash."""
        pid = self.request_stop(mode)
        if pid is not None:
            self.wait_stopped(pid, timeout)
        freezer.remove_group(self._group())

    def request_stop(self, mode: str = "fast") -> int | None:
        """Signal the postmaster to shut down (thawing it first); returns its pid, None if not running."""
        pid = self.pid()
        if pid is None:
            return None
        # A frozen postmaster would never see the signal.
        freezer.thaw_any(self._group(), pid)
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        os.kill(pid, sig)
        return pid

    def is_stopped(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is not None
        return not _alive(pid)

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (children exit when they notice)."""
        pid = self.pid()
        if pid is not None:
            freezer.thaw_any(self._group(), pid)
            os.kill(pid, signal.SIGKILL)
            self.wait_stopped(pid, 10)

    def wait_stopped(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_stopped(pid):
            if time.monotonic() > deadline:
                raise PostgresError(f"postgres (pid {pid}) did not stop within {timeout}s")
            time.sleep(0.002)

    def socket_dir(self) -> Path | None:
        """The data directory, when a socket path there fits the kernel's 107-byte limit; else TCP only."""
        socket_path = self.data_dir / f".s.PGSQL.{self.port}"
        return self.data_dir if len(str(socket_path)) <= 100 else None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # --- helpers --------------------------------------------------------------------------------

    def _group(self) -> str:
        return self.meta.group if self.meta_path.exists() else ""

    def _user_kwargs(self) -> _AsUser:
        if self.user.is_current:
            return {"user": None, "group": None, "extra_groups": None}
        return {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}

    def _run_as_service_user(self, argv: list[str]) -> None:
        result = subprocess.run(
            argv,
            capture_output=True,
            cwd=self.root,
            check=False,
            **self._user_kwargs(),
        )
        if result.returncode != 0:
            raise PostgresError(f"{Path(argv[0]).name} failed:\n{result.stderr.decode(errors='replace')}")

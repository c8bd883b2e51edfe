"""One Postgres instance: create it from the machine's PostgreSQL 15 binaries, start, stop.

Start spawns `postgres` directly and watches `postmaster.pid` for the "ready" status rather than
using `pg_ctl -w`, which polls every 100 ms. What an instance is configured with is pgconfig.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypedDict
from urllib.parse import quote

from . import freezer
from .pgconfig import BASE_SETTINGS, FAST_SETTINGS, hba
from .ports import free_port
from .service_user import ServiceUser

PG_BIN = Path(os.environ.get("BREAKWATER_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresError(Exception):
    pass


def write_private(path: Path, text: str) -> None:
    """Write `path` atomically, readable by its owner only (it holds passwords or tenant data)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o600)  # a leftover tmp file may have had another mode
        out.write(text)
    tmp.replace(path)


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
    # Which of the agent's privilege upgrades (hosts/hardening.py) this instance has had.
    hardened: int = 0


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
        tcp_users: str = "all",
    ) -> None:
        """initdb a new cluster with a random superuser password, scram auth on loopback only.

        `wal_segment_mb` below the default 16 keeps small instances small on disk (and quick to copy);
        `tcp_users` is who may log in over TCP (pg_hba's user field; see `hba`).
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
        self.write_hba(tcp_users)
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

    def write_hba(self, tcp_users: str) -> bool:
        """Make pg_hba.conf what `hba(tcp_users)` says; True if it changed (then `reload()`)."""
        path = self.data_dir / "pg_hba.conf"
        wanted = hba(tcp_users)
        if path.exists() and path.read_text() == wanted:
            return False
        write_private(path, wanted)
        self.user.own(path)
        return True

    def reload(self) -> None:
        """Have a running postmaster read its configuration files again (SIGHUP). A frozen one does
        when it is thawed; a stopped one reads them when it starts."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    def save_meta(self, meta: InstanceMeta | None = None) -> None:
        """Write instance.json atomically (it holds the superuser password: root-only)."""
        meta = meta or self.meta
        write_private(self.meta_path, json.dumps(asdict(meta), indent=2))
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
        socket_dir = self.socket_dir()
        if socket_dir != self.data_dir:
            _private_dir(socket_dir, self.user)
        # The log holds error messages of tenant queries: owner only (an older agent made it 0644).
        log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        os.fchmod(log.fileno(), 0o600)
        try:
            self._process = subprocess.Popen(
                [
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-c",
                    f"unix_socket_directories={socket_dir}",
                    "-c",
                    "unix_socket_permissions=0700",
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

    def socket_dir(self) -> Path:
        """Where the instance's Unix socket is: its data directory (private to the service user) when
        the socket path fits the kernel's 107-byte limit, else a private directory of its own under
        the system's temporary directory, named for the data directory."""
        if len(str(self.data_dir / f".s.PGSQL.{self.port}")) <= 100:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"bw-{digest}"

    def socket_path(self) -> Path:
        """The Unix socket tenant roles reach the instance by (only the proxy and the agent can)."""
        return self.socket_dir() / f".s.PGSQL.{self.port}"

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


def _private_dir(path: Path, user: ServiceUser) -> None:
    """A directory only the service user may enter (for a socket outside the data directory). One
    that exists must already be that: a name under /tmp can be taken by anyone first."""
    try:
        path.mkdir(mode=0o700)
        user.own(path)
    except FileExistsError:
        pass
    found = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or found.st_uid != user.uid:
        raise PostgresError(f"{path} is not a directory of the service user: refusing to put a socket there")
    if found.st_mode & 0o077:
        os.chmod(path, 0o700)

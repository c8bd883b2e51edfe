"""The non-root user Postgres runs as. Postgres refuses to run as root, and CI runs as root."""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceUser:
    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()

    def own(self, path: Path) -> None:
        """Give `path` to the service user (a no-op when we already run as it)."""
        if not self.is_current:
            os.chown(path, self.uid, self.gid)

    def make_dir(self, path: Path, mode: int = 0o700) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        self.own(path)
        if not self.is_current:
            _make_traversable(path.parent)
        return path


def _make_traversable(path: Path) -> None:
    """Postgres must reach its data directory: let others pass through (not list) every parent."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o001)


def service_user() -> ServiceUser:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    wanted = os.environ.get("BREAKWATER_PG_USER")
    for name in [wanted] if wanted else ["postgres", "breakwater"]:
        try:
            entry = pwd.getpwnam(name)
            return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
        except KeyError:
            continue
    name = wanted or "breakwater"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam(name)
    return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)

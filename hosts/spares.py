"""Spares: databases made ahead of time, so provisioning skips the slow part.

Creating ~600 small files is most of a dedicated instance's provisioning (ext4 here: 80-150 µs per
file), and CREATE DATABASE is most of a shared one's. Both are done in the background instead:
spare copies of the template's data directory, and spare databases in the shared cluster, which
provisioning takes by renaming. Without a spare (a burst used them up, or `spares=0`) provisioning
makes one on the spot, so spares change only how fast it is.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
from pathlib import Path

import asyncpg

from . import template
from .quoting import ident

SPARE_DATABASE_PREFIX = "spare_"


class DedicatedSpares:
    """Copies of the template's data directory under `root/spares/`, named for the template."""

    def __init__(self, root: Path, key: str) -> None:
        self.dir = root / "spares"
        self.key = key

    def ready(self) -> list[Path]:
        """Complete spares (a copy lands under a `.partial` name and is renamed when done)."""
        if not self.dir.exists():
            return []
        return sorted(
            p for p in self.dir.iterdir() if p.name.startswith(self.key + "-") and "." not in p.name
        )

    def clean(self) -> None:
        """Drop half-made spares and those of an older template."""
        if not self.dir.exists():
            return
        for path in self.dir.iterdir():
            if not path.name.startswith(self.key + "-") or "." in path.name:
                shutil.rmtree(path, ignore_errors=True)

    async def make(self, made_from: template.Template, mode: str) -> None:
        self.dir.mkdir(mode=0o700, exist_ok=True)
        await template.clone_async(made_from, self.dir / f"{self.key}-{secrets.token_hex(6)}", mode)

    def take(self, target: Path) -> bool:
        """Move a spare to `target` (a data directory path); False when there is none."""
        for spare in self.ready():
            with contextlib.suppress(FileNotFoundError):
                spare.rename(target)
                return True
        return False


def spare_roles(name: str) -> tuple[str, str]:
    """The NOLOGIN owner and read-only roles a spare database is made with (renamed when taken)."""
    return f"{name}_u", f"{name}_r"


async def spare_databases(conn: asyncpg.Connection) -> list[str]:
    """The usable spare databases, oldest first. Spares of an older agent (without roles of their
    own, made before read-only roles existed) are dropped."""
    rows = await conn.fetch(
        "SELECT datname, pg_catalog.pg_get_userbyid(datdba) AS owner FROM pg_catalog.pg_database "
        "WHERE datname OPERATOR(pg_catalog.~~) $1 ORDER BY oid",
        SPARE_DATABASE_PREFIX.replace("_", "\\_") + "%",
    )
    usable = []
    for row in rows:
        name = str(row["datname"])
        if row["owner"] == spare_roles(name)[0]:
            usable.append(name)
        else:
            await conn.execute(f"DROP DATABASE IF EXISTS {ident(name)}")
    return usable

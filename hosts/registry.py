"""The agent's record of the tenant databases on this host: one small JSON file per database.

A record is written only once a database is fully provisioned, and removed first when it is
destroyed; anything on disk without a record is a leftover the agent cleans up when it starts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

_ID = re.compile(r"^[a-z0-9]{1,40}$")
PLACEMENTS = ("shared", "dedicated")


def checked_id(database_id: str) -> str:
    # Ids come from the control plane; the check keeps them safe to splice as identifiers and paths.
    if not _ID.match(database_id):
        raise ValueError(f"invalid database id {database_id!r}: 1-40 lowercase letters and digits")
    return database_id


def database_name(database_id: str) -> str:
    return f"t_{checked_id(database_id)}"


def role_name(database_id: str) -> str:
    """The owner role: read-write keys and the tenant's own DSN."""
    return f"u_{checked_id(database_id)}"


def reader_role_name(database_id: str) -> str:
    """The read-only role: read-only keys (see privileges.py)."""
    return f"r_{checked_id(database_id)}"


def capture_role_name(database_id: str) -> str:
    """The replication role change capture reads the database's slot with (see capture.py)."""
    return f"c_{checked_id(database_id)}"


def dedicated_instance_name(database_id: str) -> str:
    return f"d-{checked_id(database_id)}"


@dataclass(frozen=True)
class DatabaseRecord:
    id: str
    placement: str  # shared | dedicated
    instance: str  # the instance directory name under instances/
    created_at: str

    @property
    def database(self) -> str:
        return database_name(self.id)

    @property
    def role(self) -> str:
        return role_name(self.id)

    @property
    def reader(self) -> str:
        return reader_role_name(self.id)


class Registry:
    def __init__(self, root: Path) -> None:
        self.dir = root / "databases"
        self.new = not self.dir.exists()  # an agent from before records existed ran here, or none did
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)

    def load(self) -> dict[str, DatabaseRecord]:
        found = {}
        for path in self.dir.glob("*.json"):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                record = DatabaseRecord(**json.loads(path.read_text()))
                found[record.id] = record
        return found

    def add(
        self, database_id: str, placement: str, instance: str, created_at: str | None = None
    ) -> DatabaseRecord:
        if placement not in PLACEMENTS:
            raise ValueError(f"placement is 'shared' or 'dedicated', not {placement!r}")
        record = DatabaseRecord(
            id=checked_id(database_id),
            placement=placement,
            instance=instance,
            created_at=created_at or dt.datetime.now(dt.UTC).isoformat(),
        )
        path = self.dir / f"{record.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(path)
        return record

    def remove(self, database_id: str) -> None:
        (self.dir / f"{checked_id(database_id)}.json").unlink(missing_ok=True)

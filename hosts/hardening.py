"""Bringing an instance an older agent made up to what this one promises: who may log in over TCP,
what the server log records, who may connect to the maintenance databases, capture roles per database.

Two parts. Files (pg_hba.conf, settings, the log's mode) for every instance whenever the agent starts,
awake or not: a running postmaster re-reads them on SIGHUP (a frozen one once thawed), a stopped one
when it next starts. SQL once per instance (`InstanceMeta.hardened` records it), while it is awake:
when the agent starts for running and paused instances, after their next start for hibernated ones.
"""

from __future__ import annotations

import os

from bwservice import pinned

from . import capture, privileges
from .postgres import PostgresInstance

VERSION = 1
# Who may log in over TCP to the agent's instances (pg_hba): the superuser and the platform's roles
# (change capture); tenant roles reach an instance only through the proxy, on its Unix socket.
TCP_USERS = f"postgres,+{privileges.PLATFORM_GROUP}"


def update_files(instance: PostgresInstance, settings: dict[str, str]) -> list[str]:
    """pg_hba.conf and `settings` as this agent writes them; returns the setting names changed."""
    hba_changed = instance.write_hba(TCP_USERS)
    changed = instance.apply_settings(settings)
    if instance.log_path.exists():
        os.chmod(instance.log_path, 0o600)
    if hba_changed or changed:
        instance.reload()
    return changed


def needed(instance: PostgresInstance) -> bool:
    return instance.meta.hardened < VERSION


async def harden(instance: PostgresInstance) -> None:
    """The SQL part (the instance must be running); idempotent."""
    conn = await pinned.connect(instance.dsn(), server_settings={"synchronous_commit": "on"})
    try:
        await privileges.harden_cluster(conn)
    finally:
        await conn.close()
    await capture.migrate(instance)
    meta = instance.meta
    meta.hardened = VERSION
    instance.save_meta(meta)

"""The prepared template dedicated instances are copied from.

The template is an initdb'd, cleanly stopped data directory holding just two databases: `template1`
(where the agent's own connections go; no other role may connect) and `t_template`, owned by the role
`u_template` and readable by `r_template` (see privileges.py), which a new instance renames to the
tenant's names. `template0` and `postgres` are dropped: half the bytes to copy.

A copy is a reflink where the filesystem allows (XFS, btrfs: blocks shared until written) and a plain
copy otherwise. Never hard links: Postgres rewrites files in place and would corrupt the template.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bwservice import pinned

from . import hardening, privileges
from .pgconfig import BASE_SETTINGS
from .postgres import PostgresError, PostgresInstance
from .quoting import ident
from .service_user import ServiceUser

TEMPLATE_DATABASE = "t_template"
TEMPLATE_ROLE = "u_template"
TEMPLATE_READER = "r_template"
ADMIN_DATABASE = "template1"
WAL_SEGMENT_MB = 1
# Bumped when what the template holds changes (roles, privileges), so templates are rebuilt.
RECIPE_VERSION = 2

# A dedicated instance's own small configuration: few processes (no logical replication launcher:
# change capture uses walsenders, not subscriptions), little shared memory, little WAL kept.
DEDICATED_SETTINGS: dict[str, str] = {
    **BASE_SETTINGS,
    "max_connections": "30",
    "max_wal_senders": "4",
    "max_replication_slots": "4",
    "max_logical_replication_workers": "0",
    "max_worker_processes": "4",
    "autovacuum_max_workers": "2",
    "min_wal_size": "4MB",
    "max_wal_size": "256MB",
}


class TemplateError(Exception):
    pass


@dataclass(frozen=True)
class Template:
    instance: PostgresInstance

    @property
    def data_dir(self) -> Path:
        return self.instance.data_dir

    @property
    def superuser_password(self) -> str:
        return self.instance.meta.superuser_password


def template_key(durable: bool) -> str:
    """Templates are rebuilt when their configuration changes: the key names the configuration."""
    recipe = json.dumps(
        [DEDICATED_SETTINGS, durable, WAL_SEGMENT_MB, TEMPLATE_DATABASE, RECIPE_VERSION, hardening.TCP_USERS],
        sort_keys=True,
    )
    return "pg15-" + hashlib.sha256(recipe.encode()).hexdigest()[:10]


async def prepare(root: Path, user: ServiceUser, durable: bool) -> Template:
    """The template under `root/templates/`, built once (about a second) and reused after that."""
    instance = PostgresInstance(root / "templates" / template_key(durable), user)
    ready = instance.root / "ready"
    if ready.exists() and instance.exists():
        return Template(instance)
    if instance.meta_path.exists():  # a half-built one from a crash
        instance.stop()
    shutil.rmtree(instance.root, ignore_errors=True)
    instance.create(
        durable=durable,
        settings=DEDICATED_SETTINGS,
        wal_segment_mb=WAL_SEGMENT_MB,
        tcp_users=hardening.TCP_USERS,
    )
    instance.start()
    try:
        conn = await pinned.connect(instance.dsn("postgres"))
        try:
            # Provisioning renames the roles and gives them LOGIN and passwords.
            db, owner, reader = ident(TEMPLATE_DATABASE), ident(TEMPLATE_ROLE), ident(TEMPLATE_READER)
            await conn.execute(f"CREATE ROLE {owner} NOLOGIN")
            await privileges.ensure_reader(conn, TEMPLATE_READER, None)
            await conn.execute(f"CREATE DATABASE {db} OWNER {owner}")
            await conn.execute(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
            await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {owner}")
            await conn.execute(f"GRANT CONNECT ON DATABASE {db} TO {reader}")
            await privileges.harden_cluster(conn)
        finally:
            await conn.close()
        conn = await pinned.connect(instance.dsn(TEMPLATE_DATABASE))
        try:
            await privileges.prepare_database(conn, TEMPLATE_ROLE, TEMPLATE_READER)
        finally:
            await conn.close()
        conn = await pinned.connect(instance.dsn(ADMIN_DATABASE))
        try:
            await conn.execute(
                "UPDATE pg_catalog.pg_database SET datistemplate = false "
                "WHERE datname OPERATOR(pg_catalog.=) 'template0'"
            )
            await conn.execute("DROP DATABASE template0")
            await conn.execute("DROP DATABASE postgres")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
    finally:
        instance.stop()
    meta = instance.meta
    meta.admin_database = ADMIN_DATABASE
    meta.hardened = hardening.VERSION
    instance.save_meta(meta)
    ready.write_text("ok\n")
    return Template(instance)


def copy_mode(source_dir: Path, target_dir: Path) -> str:
    """ "reflink" when `cp --reflink=always` works from `source_dir` to `target_dir`, else "copy"."""
    probe_source = source_dir / ".reflink-probe"
    probe_target = target_dir / ".reflink-probe"
    try:
        probe_source.write_bytes(b"x" * 4096)
        result = subprocess.run(
            ["cp", "--reflink=always", str(probe_source), str(probe_target)], capture_output=True, check=False
        )
        return "reflink" if result.returncode == 0 else "copy"
    finally:
        probe_source.unlink(missing_ok=True)
        probe_target.unlink(missing_ok=True)


def _copy_argv(template: Template, partial: Path, mode: str) -> list[str]:
    if mode not in ("reflink", "copy"):
        raise TemplateError(f"unknown copy mode {mode!r}")
    reflink = "always" if mode == "reflink" else "never"
    return ["cp", "-a", f"--reflink={reflink}", str(template.data_dir), str(partial)]


async def clone_async(template: Template, target: Path, mode: str) -> None:
    """Copy the template's data directory to `target` (which must not exist), owners and modes kept.

    The copy lands beside the target and is renamed into place, so a crash never leaves a data
    directory that looks complete.
    """
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    process = await asyncio.create_subprocess_exec(
        *_copy_argv(template, partial, mode),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except BaseException:
        # Cancelled (the agent stops): end the copy rather than leave it running unwatched.
        process.kill()
        await asyncio.shield(process.wait())
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if process.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise PostgresError(f"copying the template failed: {stderr.decode(errors='replace')}")
    partial.rename(target)

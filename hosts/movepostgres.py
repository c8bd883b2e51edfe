"""A move's work inside Postgres: letting the tenant's sessions finish and ending them (fence), the
Postgres client programs it runs (`pg_dump`, `pg_restore` as the tenant's own role, on the
instance's Unix socket), and the tenant's settings copied into the new catalog as they were."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import asyncpg

from . import registry
from .inventory import MoveError
from .postgres import PG_BIN, PostgresError, PostgresInstance


async def let_finish(admin: asyncpg.Connection, database: str, roles: list[str], grace: float) -> None:
    """Up to `grace` seconds for the sessions of `roles` in `database` to finish what they run
    (polled: the work is in Postgres, which tells nobody when it is done)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, grace)
    while loop.time() < deadline:
        busy = await admin.fetchval(
            "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname OPERATOR(pg_catalog.=) $1 "
            "AND usename OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]) "
            "AND state OPERATOR(pg_catalog.<>) 'idle'",
            database,
            roles,
        )
        if not busy:
            return
        await asyncio.sleep(0.02)


async def end_sessions(admin: asyncpg.Connection, database: str, roles: list[str]) -> int:
    """End the sessions of `roles` in `database` and wait until they are gone (up to 10 s)."""
    query = (
        "FROM pg_catalog.pg_stat_activity WHERE datname OPERATOR(pg_catalog.=) $1 "
        "AND usename OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]) "
        "AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
    )
    ended = int(
        await admin.fetchval(f"SELECT count(pg_catalog.pg_terminate_backend(pid)) {query}", database, roles)
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await admin.fetchval(f"SELECT count(*) {query}", database, roles):
        if loop.time() > deadline:
            raise MoveError(f"sessions of {database} did not end")
        await asyncio.sleep(0.01)
    return ended


def socket_args(instance: PostgresInstance, user: str, database: str) -> list[str]:
    return [
        f"--host={instance.socket_dir()}",
        f"--port={instance.port}",
        f"--username={user}",
        f"--dbname={database}",
    ]


async def run_client(argv: list[str], env: dict[str, str]) -> str:
    """Run a Postgres client program; its standard output, or PostgresError with its complaint."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGCONNECT_TIMEOUT": "10", **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        raise PostgresError(f"{Path(argv[0]).name} failed: {stderr.decode(errors='replace').strip()[-2000:]}")
    return stdout.decode(errors="replace")


def restore_list(toc: str, superuser: str) -> str:
    """The dump's table of contents without what the platform made (owned by `superuser`): it is
    made again on the new host, and the tenant's role could not restore it anyway."""
    kept = []
    for line in toc.splitlines():
        if line.startswith(";") or not line.strip():
            kept.append(line)
            continue
        if line.split()[-1] == superuser:
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


async def restore_as_owner(
    instance: PostgresInstance, database_id: str, package: Path, password: str
) -> None:
    owner, database = registry.role_name(database_id), registry.database_name(database_id)
    toc = await run_client([str(PG_BIN / "pg_restore"), "--list", str(package)], {})
    listing = package.with_name(package.name + ".list")
    listing.write_text(restore_list(toc, instance.meta.superuser))
    try:
        await run_client(
            [
                str(PG_BIN / "pg_restore"),
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                f"--use-list={listing}",
                *socket_args(instance, owner, database),
                str(package),
            ],
            {"PGPASSWORD": password},
        )
    finally:
        listing.unlink(missing_ok=True)


async def copy_settings(admin: asyncpg.Connection, database: str, settings: list[dict[str, Any]]) -> None:
    """The tenant's `ALTER DATABASE/ROLE … SET` values, as the old host stored them: written into
    the catalog as they were (bind parameters), so nothing is parsed or quoted on the way."""
    oid = await admin.fetchval(
        "SELECT oid FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) $1", database
    )
    for setting in settings:
        role = setting.get("role")
        role_oid = 0
        if role is not None:
            role_oid = await admin.fetchval(
                "SELECT oid FROM pg_catalog.pg_authid WHERE rolname OPERATOR(pg_catalog.=) $1", str(role)
            )
            if role_oid is None:
                continue
        database_oid = oid if setting.get("database") else 0
        await admin.execute(
            "DELETE FROM pg_catalog.pg_db_role_setting WHERE setdatabase OPERATOR(pg_catalog.=) $1 "
            "AND setrole OPERATOR(pg_catalog.=) $2",
            database_oid,
            role_oid,
        )
        await admin.execute(
            "INSERT INTO pg_catalog.pg_db_role_setting (setdatabase, setrole, setconfig) "
            "VALUES ($1, $2, $3::pg_catalog.text[])",
            database_oid,
            role_oid,
            [str(item) for item in setting.get("config") or []],
        )

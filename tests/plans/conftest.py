"""Fixtures for the Prisma 7 tests: the two generated clients (with and without the `relationJoins`
preview feature), generated offline once and cached by a hash of the schema and the lock file, and
tenant databases holding the tables of the test schema."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from bwdev.stack import Stack
from tests.conftest import PROJECT_ROOT, TenantDatabase, create_tenant

NODE_PROJECT = PROJECT_ROOT / "tests" / "prisma7"
SCHEMA = NODE_PROJECT / "prisma" / "schema.prisma"
TABLES = NODE_PROJECT / "prisma" / "schema.sql"
VARIANTS = {"joins": 'previewFeatures = ["relationJoins"]', "plain": ""}


def _schema_hash() -> str:
    digest = hashlib.sha256()
    for path in (SCHEMA, NODE_PROJECT / "package-lock.json"):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def generate_client(variant: str) -> Path:
    """The generated client of `variant`, generating it (offline, PRISMA-WIRE.md §0) if missing."""
    if not (NODE_PROJECT / "node_modules" / "prisma").is_dir():
        pytest.fail("tests/prisma7/node_modules is missing: run scripts/install")
    root = NODE_PROJECT / ".generated" / _schema_hash()
    out = root / variant
    if (out / "index.js").is_file():
        return out
    root.mkdir(parents=True, exist_ok=True)
    schema = root / f"{variant}.prisma"
    schema.write_text(
        SCHEMA.read_text().replace('"OUTPUT"', f'"./{variant}"').replace("PREVIEW", VARIANTS[variant])
    )
    env = {**os.environ, "PRISMA_SCHEMA_ENGINE_BINARY": "/bin/true", "PRISMA_SCHEMA_PATH": str(schema)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [str(NODE_PROJECT / "node_modules" / ".bin" / "prisma"), "generate"],
        cwd=NODE_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 or not (out / "index.js").is_file():
        shutil.rmtree(out, ignore_errors=True)
        pytest.fail(f"prisma generate failed:\n{done.stdout}\n{done.stderr}")
    for old in (NODE_PROJECT / ".generated").iterdir():
        if old != root:
            shutil.rmtree(old, ignore_errors=True)
    return out


async def run_script(dsn: str, script: str) -> None:
    """Several SQL statements at once (test set-up only; plans never take this path)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


async def tenant_with_tables(stack: Stack, prefix: str = "p7", script: Path = TABLES) -> TenantDatabase:
    tenant = create_tenant(stack, prefix)
    await run_script(tenant.dsn, script.read_text())
    return tenant


@pytest.fixture
def read_only_key(stack: Stack) -> Callable[[TenantDatabase], str]:
    def make(tenant: TenantDatabase) -> str:
        made = stack.admin("POST", "/admin/keys", {"database": tenant.name, "scope": "read"})
        key: str = made["api_key"]
        return key

    return make

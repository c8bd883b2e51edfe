"""Prisma 6 fixtures: tenants with tables made by plain SQL, and the real client generated once per
session (`prisma generate --no-engine`, offline), cached by schema hash under generated/."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent


async def run_script(dsn: str, script: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


def generate_client(schema: str) -> Path:
    """The generated client for `schema` (its folder holds `client/`), generated at most once."""
    digest = hashlib.sha256(schema.encode()).hexdigest()[:16]
    folder = HERE / "generated" / digest
    if (folder / "client" / "index.js").exists():
        return folder
    if not (HERE / "node_modules" / ".bin" / "prisma").exists():
        raise RuntimeError("tests/prisma6/node_modules is missing: run scripts/install")
    staging = folder.with_name(digest + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    text = schema.replace("generator client {", 'generator client {\n  output = "./client"', 1)
    (staging / "schema.prisma").write_text(text)
    env = {
        **os.environ,
        "PRISMA_SCHEMA_ENGINE_BINARY": "/bin/true",
        "PRISMA_QUERY_ENGINE_LIBRARY": "/bin/true",
        "PRISMA_HIDE_UPDATE_MESSAGE": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    subprocess.run(
        [
            str(HERE / "node_modules" / ".bin" / "prisma"),
            "generate",
            "--no-engine",
            "--schema",
            str(staging / "schema.prisma"),
        ],
        cwd=HERE,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder

"""Sessions the platform opens into databases a tenant controls: the host agent's superuser sessions,
capture's replication role, the origin's slot set-up. Name resolution in them is pinned.

A tenant owns its database, so it can `ALTER DATABASE … SET search_path = public, pg_catalog` and
define `public.=(name, name)`: an unqualified operator or function in a platform statement would then
run the tenant's code with the platform's rights. It can also `ALTER DATABASE … SET role = 'u_…'`,
which turns a superuser session into one acting as the tenant (and tenant code reached from there
could RESET ROLE). Settings sent in the startup packet take precedence over ALTER DATABASE/ROLE … SET
defaults, so pinning them here holds for the whole session. The platform's SQL also names catalog
objects and functions with `pg_catalog.`, as a second layer.
"""

from __future__ import annotations

from typing import Any

import asyncpg

SEARCH_PATH = "pg_catalog, pg_temp"
# Sent in the startup packet of every platform session (asyncpg's `server_settings`, and the
# replication client's startup parameters).
# standard_conforming_strings: how the platform's own literals are read must not be the tenant's choice.
SETTINGS: dict[str, str] = {"search_path": SEARCH_PATH, "role": "none", "standard_conforming_strings": "on"}


async def connect(
    dsn: str, *, server_settings: dict[str, str] | None = None, **kwargs: Any
) -> asyncpg.Connection:
    """asyncpg.connect with the pinned settings (they win over any given in `server_settings`)."""
    return await asyncpg.connect(dsn, server_settings={**(server_settings or {}), **SETTINGS}, **kwargs)

"""What a borrower of the pool can be told: no connection in time (P2024), its connection taken back
for a starving database (BW3003), the database deleted, moving, or its host's connection lost."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from bwcontract.codes import Code

from ..errors import BreakwaterError, DatabaseMoving, UpstreamError


class PoolTimeout(BreakwaterError):
    """No connection became free in time (Prisma's pool timeout)."""

    code = Code.POOL_TIMEOUT


class Reclaimed(BreakwaterError):
    """The request's connection was taken back for a database below its fair share."""

    code = Code.RECLAIMED


class DatabaseGone(BreakwaterError):
    """The database was deleted: there is nothing to connect to. The pool knows databases, not keys;
    what a caller hears is the composition root's to say (`Tenants(gone=...)`: the origin answers
    that the caller's key is invalid)."""

    code = Code.NOT_FOUND


class Relocating(DatabaseMoving):
    """The host's proxy says the database is moving or moved: `Tenants` reads where it is now."""


def connection_lost(host_id: str, exc: BaseException) -> BreakwaterError:
    return UpstreamError(
        f"The connection to the database was lost during the request ({type(exc).__name__}): its host "
        f"{host_id!r} restarted its agent, or the database is moving.",
        meta={"host": host_id},
        hint="Retry; a write in flight may or may not have been applied.",
    )


async def proxy_refuses(dsn: str) -> bool:
    """Whether nobody listens at the DSN's host:port now (its host agent is down): a dropped
    connection is then the host's outage, not this request's bad luck."""
    address = urlsplit(dsn)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address.hostname, address.port), 1.0)
    except (OSError, TimeoutError):
        return True
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return False


def database_gone(database_id: str) -> BreakwaterError:
    return DatabaseGone(f"The database {database_id} no longer exists.")


def reclaimed() -> Reclaimed:
    return Reclaimed(
        "This request was stopped: its database held more than its fair share of the host's "
        "connections while other databases waited, and this was its longest-running request.",
        hint="Retry; keep fewer requests and transactions open at once, or shorten long statements.",
    )

"""What the capture supervisor and a move both need of change capture, kept below both: the advisory
lock that admits one capture enabler per database, the channel that pokes the supervisors, and
creating a database's logical slot."""

from __future__ import annotations

import hashlib

import asyncpg

from bwcontract.codes import Code
from bwservice import pinned

from .errors import BreakwaterError

ENABLE_LOCK = 0x42574345  # "BWCE": one enabler per database
CHANNEL = "breakwater_capture"


def lock_key(database_id: str) -> int:
    """A stable 32-bit key per database (a collision only makes one process lead both)."""
    return int.from_bytes(hashlib.sha256(database_id.encode()).digest()[:4], "big", signed=True)


class CaptureUnavailable(BreakwaterError):
    code = Code.CAPTURE_UNAVAILABLE


async def ensure_slot(dsn: str, slot: str) -> None:
    """Create the logical slot unless it exists. It waits for transactions open in the cluster, so it
    is bounded: a long-running transaction elsewhere makes the stream open fail with a retry hint.

    The session is the capture role's (REPLICATION) in the tenant's database: pinned, so nothing in
    it resolves a name the tenant defined."""
    conn = await pinned.connect(dsn, server_settings={"statement_timeout": "15s"})
    try:
        if await conn.fetchval(
            "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name OPERATOR(pg_catalog.=) $1", slot
        ):
            return
        try:
            await conn.execute("SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')", slot)
        except asyncpg.DuplicateObjectError:
            return
        except asyncpg.ConfigurationLimitExceededError as exc:
            raise CaptureUnavailable(
                f"Change capture could not start: the database's host has no free replication slot ({exc}).",
                hint="Raise max_replication_slots and max_wal_senders on the host, or turn capture off "
                "for databases that no longer stream.",
            ) from None
        except asyncpg.QueryCanceledError:
            raise CaptureUnavailable(
                "Change capture could not start: a long-running transaction on the database's host "
                "kept the replication slot from being created.",
                hint="Retry once long transactions on the host have finished.",
            ) from None
    finally:
        await conn.close()

"""Control-plane records of the hosts: who they are, how to reach their agents, what they reported
(capacity, proxy address, when), and the operator's state for each (active, cordoned, draining,
drained)."""

from __future__ import annotations

import datetime as dt
import hmac
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from bwcontract.codes import Code

from ..errors import BreakwaterError

STATES = ("active", "cordoned", "draining", "drained")


@dataclass(frozen=True)
class HostRecord:
    id: str
    url: str
    token: str | None
    state: str
    capacity: dict[str, Any]
    proxy: str | None
    last_seen: dt.datetime | None
    created_at: dt.datetime
    databases: int = 0  # live databases the control plane places on it
    dedicated: int = 0
    moving: int = 0  # moves under way from or to it

    def seen_seconds_ago(self, now: dt.datetime) -> float | None:
        return None if self.last_seen is None else max(0.0, (now - self.last_seen).total_seconds())

    def reachable(self, now: dt.datetime, stale_seconds: float) -> bool:
        """It reported recently (a host that never reported is taken at its word: an older origin
        registered it, and its agent is asked directly)."""
        seen = self.seen_seconds_ago(now)
        return seen is None or seen <= stale_seconds

    def public(self, now: dt.datetime, stale_seconds: float) -> dict[str, Any]:
        """As operators see it (never the token)."""
        seen = self.seen_seconds_ago(now)
        return {
            "id": self.id,
            "url": self.url,
            "state": self.state,
            "reachable": self.reachable(now, stale_seconds) and self.last_seen is not None,
            "last_seen_seconds": None if seen is None else round(seen, 1),
            "proxy": self.proxy,
            "databases": self.databases,
            "dedicated": self.dedicated,
            "moving": self.moving,
            "capacity": self.capacity,
            "created_at": self.created_at.isoformat(),
        }


class HostTokenChanged(BreakwaterError):
    code = Code.HOST_CLAIMED


_COLUMNS = "h.id, h.url, h.token, h.state, h.capacity, h.proxy, h.last_seen, h.created_at"
_COUNTS = (
    "(SELECT count(*) FROM databases d WHERE d.host_id = h.id AND d.deleted_at IS NULL) AS databases, "
    "(SELECT count(*) FROM databases d WHERE d.host_id = h.id AND d.deleted_at IS NULL "
    " AND d.placement = 'dedicated') AS dedicated, "
    "(SELECT count(*) FROM moves m WHERE m.state = 'running' "
    " AND (m.source = h.id OR m.target = h.id)) AS moving"
)


def _record(row: asyncpg.Record) -> HostRecord:
    values = dict(row)
    capacity = values.pop("capacity")
    values["capacity"] = json.loads(capacity) if isinstance(capacity, str) else dict(capacity or {})
    return HostRecord(**values)


class HostStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def report(
        self, host_id: str, url: str, token: str, proxy: str, capacity: dict[str, Any]
    ) -> HostRecord:
        """A host agent's report. Its first binds `token` to the host id; later ones must carry the
        same token (a host whose token was reset binds the next one)."""
        async with self.pool.acquire() as conn, conn.transaction():
            known = await conn.fetchval("SELECT token FROM hosts WHERE id = $1 FOR UPDATE", host_id)
            if known is not None and not hmac.compare_digest(str(known).encode(), token.encode()):
                raise HostTokenChanged(
                    f"Host {host_id!r} is registered with another agent token.",
                    hint="If the agent's token was changed on purpose: "
                    f"`breakwater host reset-token {host_id}`.",
                )
            await conn.execute(
                "INSERT INTO hosts (id, url, token, proxy, capacity, last_seen) "
                "VALUES ($1, $2, $3, $4, $5::jsonb, now()) "
                "ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, token = EXCLUDED.token, "
                "proxy = EXCLUDED.proxy, capacity = EXCLUDED.capacity, last_seen = now()",
                host_id,
                url,
                token,
                proxy,
                json.dumps(capacity),
            )
            row = await conn.fetchrow(f"SELECT {_COLUMNS}, {_COUNTS} FROM hosts h WHERE h.id = $1", host_id)
        return _record(row)

    async def list(self) -> list[HostRecord]:
        rows = await self.pool.fetch(f"SELECT {_COLUMNS}, {_COUNTS} FROM hosts h ORDER BY h.created_at, h.id")
        return [_record(r) for r in rows]

    async def get(self, host_id: str) -> HostRecord | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS}, {_COUNTS} FROM hosts h WHERE h.id = $1", host_id)
        return _record(row) if row else None

    async def now(self) -> dt.datetime:
        """The control plane's clock: last_seen is its time, so ages are measured by it too."""
        found: dt.datetime = await self.pool.fetchval("SELECT now()")
        return found

    async def set_state(self, host_id: str, state: str) -> None:
        assert state in STATES
        await self.pool.execute("UPDATE hosts SET state = $2 WHERE id = $1", host_id, state)
        await self.pool.execute("SELECT pg_notify('breakwater_hosts', $1)", host_id)

    async def reset_token(self, host_id: str) -> None:
        await self.pool.execute("UPDATE hosts SET token = NULL WHERE id = $1", host_id)

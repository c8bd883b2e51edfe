"""Opening one tenant connection through the host's wake-on-connect proxy, retrying while the proxy
restarts or the database wakes up, and setting the connection up as the pool lends it (metered,
bounded by the database's limits, values decoded as Prisma's driver does); resetting it when it comes
back (SECURITY.md: nothing a tenant's session set reaches the next request).

Connections go to the host's wake-on-connect proxy (the DSN the control plane holds), which thaws
a paused instance before it forwards a byte to it: a pooled connection survives a pause, and its
next query resumes the instance first. A hibernated instance ends its sessions; the pool notices
the closed connection, drops it, and opens a new one, which starts the instance again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg

from .. import pgtime
from ..errors import UpstreamError, host_unavailable
from ..guard import KILL_AFTER_SECONDS, TenantConnection
from ..limits import Limits
from .errors import Relocating
from .settings import PoolSettings


async def connect(
    dsn: str, limits: Callable[[], Limits], pool_settings: PoolSettings, host_id: str
) -> asyncpg.Connection:
    """Open a connection, retrying while the host's proxy restarts or the database wakes up; each
    attempt under the database's `limits()` as they are then (they may change while it retries)."""
    started = time.monotonic()
    deadline = started + pool_settings.connect_seconds
    unreachable_until = started + min(pool_settings.unreachable_seconds, pool_settings.connect_seconds)
    delay = 0.02
    while True:
        settings = limits().server_settings()
        try:
            conn = await asyncpg.connect(
                dsn,
                timeout=max(0.1, deadline - time.monotonic()),
                server_settings=settings,
                connection_class=TenantConnection,
            )
            try:
                conn.install_meter()
                conn.startup_settings = settings
                await read_as_prisma_does(conn)
            except BaseException:
                conn.terminate()  # half set up, or cancelled: the session is not left open unowned
                raise
            return conn
        except OSError as exc:
            # Nobody listens at the host's proxy: its agent restarts (back in a second or two),
            # or the host is down, which must not hold this request for long.
            if time.monotonic() + delay > unreachable_until:
                raise host_unavailable(host_id, f"its proxy refuses connections ({exc})") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        except (asyncpg.CannotConnectNowError, TimeoutError) as exc:
            if time.monotonic() + delay > deadline:
                # Its proxy took the connection but nothing answered in time (the host hangs,
                # or the database could not start): the host's outage, bounded.
                why = f"it did not answer within {pool_settings.connect_seconds:g}s ({exc!r})"
                raise host_unavailable(host_id, why) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        except asyncpg.OperatorInterventionError as exc:
            # The host's proxy: the database is moving, or moved away (routing.MOVING_SQLSTATE).
            raise Relocating(str(exc), meta={"dsn": dsn}) from None
        except asyncpg.TooManyConnectionsError as exc:
            # The host's proxy is at the host's whole budget (another origin still holds the part
            # this one now counts as its own: they see a join or a death a moment apart), or
            # Postgres is at max_connections: wait for a session to end, as for a free slot.
            if time.monotonic() + delay > deadline:
                raise UpstreamError(
                    f"The database refused another connection: {exc}",
                    hint="Other clients hold its connections; lower their number or the pool's limit.",
                ) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise UpstreamError(f"Connecting to the database failed: {exc}") from None


async def read_as_prisma_does(conn: asyncpg.Connection) -> None:
    """Decode values the way Prisma's driver does where asyncpg's binary codecs differ: a float4 is
    Postgres's shortest text of it (0.1), not the double it widens to (0.10000000149011612); a date
    or timestamp Python cannot hold (infinity, year 10000, BC) is Postgres's text (`pgtime`)."""
    await conn.set_type_codec("float4", schema="pg_catalog", encoder=str, decoder=float, format="text")
    await pgtime.install(conn)


async def reset(conn: asyncpg.Connection) -> None:
    """Make a connection that served a request fit to be lent again, or end its session."""
    try:
        # What asyncpg.Pool does on release: roll back, close cursors, unlisten, RESET ALL.
        # It first waits for a cancelled statement to end; one that does not, ends the session.
        await conn.reset(timeout=KILL_AFTER_SECONDS)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
        conn.terminate()
    except BaseException:
        conn.terminate()  # cancelled mid-reset: a session that was not reset is never lent again
        raise

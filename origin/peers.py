"""Which origin processes are live, as the control plane sees them, and so this origin's share of
every connection budget (shares.py).

Each origin holds a session on the control plane, named `breakwater-origin <id>` (its
application_name), and on it a session advisory lock keyed by its id. An origin is live exactly
while that lock is held: Postgres drops it the moment the session ends, which a process's exit ends
at once (the kernel closes its sockets; a machine that vanishes is noticed by TCP keepalives within
`KEEPALIVE_SECONDS`). So a dead origin's share comes back as soon as the others next look: every
`interval`, or at once when an origin joins or leaves cleanly (NOTIFY).

A joining origin takes its share at once while the others give theirs up within `interval` (idle
connections at once, busy ones as they come back): for that moment the host's proxy holds the line
(hosts/proxy.py). An origin cut off from the control plane keeps the share it had, while the others
count it out after the keepalive; the proxy covers that too. Two processes started with one origin id
cannot both be live: the second waits (and says so in its log), as edge routing by id requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable

import asyncpg

from bwservice.tasks import cancel_and_wait

from .shares import Share

log = logging.getLogger("breakwater.peers")

MEMBER_LOCK = 0x42574F52  # "BWOR": one lock per live origin
CHANNEL = "breakwater_origins"
APPLICATION = "breakwater-origin "
KEEPALIVE_SECONDS = 10  # how long a vanished machine's session may take to end (about)

_SESSION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


def member_key(origin_id: str) -> int:
    return int.from_bytes(hashlib.sha256(origin_id.encode()).digest()[:4], "big", signed=True)


# The origins whose lock is held, by the name their session gives (the control plane's roles are the
# platform's own: no tenant can open a session there to pose as an origin).
_LIVE = (
    "SELECT substr(a.application_name, $3) AS id FROM pg_catalog.pg_locks l"
    " JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
    " AND l.classid::bigint = $1 AND a.application_name LIKE $2"
)


class Membership:
    """This origin's place among the live ones; calls `on_share` whenever its share changes."""

    def __init__(
        self,
        control_dsn: str,
        origin_id: str,
        on_share: Callable[[Share], None],
        interval: float = 1.0,
    ) -> None:
        self.origin_id = origin_id
        self.live: list[str] = []
        self.share = Share()
        self._dsn = control_dsn
        self._on_share = on_share
        self._interval = interval
        self._session: asyncpg.Connection | None = None
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._joined = asyncio.Event()
        self._holding = False  # this session holds the origin's lock
        self._warned = False

    async def start(self, wait: float = 5.0) -> None:
        """Join, and wait (up to `wait` seconds) until this origin knows its share."""
        self._task = asyncio.ensure_future(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._joined.wait(), wait)

    async def stop(self) -> None:
        """Leave: the others take this origin's share at once (call it after the pools are closed)."""
        await cancel_and_wait(self._task)
        if self._session is not None:
            with contextlib.suppress(*_SESSION_ERRORS):
                if self._holding:
                    await self._session.execute("SELECT pg_advisory_unlock($1, $2)", MEMBER_LOCK, self._key)
                await self._session.execute("SELECT pg_notify($1, 'left')", CHANNEL)
            with contextlib.suppress(*_SESSION_ERRORS):
                await self._session.close()
            self._session = None

    @property
    def _key(self) -> int:
        return member_key(self.origin_id)

    async def _run(self) -> None:
        while True:
            try:
                if self._session is None or self._session.is_closed():
                    self._holding = False
                    self._session = await self._connect()
                if not self._holding:
                    await self._join()
                await self._look()
            except asyncio.CancelledError:
                raise
            except _SESSION_ERRORS as exc:
                # Keep the share held so far: the proxy bounds the host meanwhile.
                log.warning(
                    "the control plane's list of origins is out of reach",
                    extra={"fields": {"error": str(exc)}},
                )
                if self._session is not None:
                    self._session.terminate()
                    self._session = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self._interval)
            self._poke.clear()

    async def _connect(self) -> asyncpg.Connection:
        session = await asyncpg.connect(
            self._dsn,
            server_settings={
                "application_name": APPLICATION + self.origin_id,
                # A machine that vanishes without closing its socket is counted out within seconds.
                "tcp_keepalives_idle": "4",
                "tcp_keepalives_interval": "2",
                "tcp_keepalives_count": "3",
            },
        )
        try:
            await session.add_listener(CHANNEL, lambda *_args: self._poke.set())
        except BaseException:
            session.terminate()
            raise
        return session

    async def _join(self) -> None:
        assert self._session is not None
        self._holding = bool(
            await self._session.fetchval("SELECT pg_try_advisory_lock($1, $2)", MEMBER_LOCK, self._key)
        )
        if self._holding:
            await self._session.execute("SELECT pg_notify($1, 'joined')", CHANNEL)
            log.info("joined the live origins", extra={"fields": {"origin": self.origin_id}})
        elif not self._warned:
            self._warned = True
            log.error(
                "another live process has this origin id: this one waits until it is gone",
                extra={"fields": {"origin": self.origin_id}},
            )

    async def _look(self) -> None:
        assert self._session is not None
        rows = await self._session.fetch(_LIVE, MEMBER_LOCK, APPLICATION + "%", len(APPLICATION) + 1)
        live = sorted({str(r["id"]) for r in rows})
        if live != self.live:
            log.info("live origins", extra={"fields": {"origins": live}})
        self.live = live
        # Counted among them even while another process holds this id: it serves all the same.
        share = Share.among(live, self.origin_id)
        if share != self.share:
            self.share = share
            self._on_share(share)
        self._joined.set()

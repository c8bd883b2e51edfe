"""The wake-on-connect proxy: one TCP port for every tenant database on this host.

It reads the client's first message (answering SSLRequest and GSSENCRequest with "N": the hosts
speak plain TCP on a private network), routes the StartupMessage by database name to its instance,
wakes that instance if it is paused or hibernated, then relays bytes both ways over the instance's
Unix socket (its directory is private to the service user, and pg_hba admits tenant roles nowhere
else). Authentication is Postgres's own, with the tenant's role: the proxy never sees a password,
and it refuses any role but the database's own (owner and read-only) before Postgres is even asked.
CancelRequests are routed by the backend key noted during each handshake.

Relaying is done with protocols rather than streams: a forwarded chunk costs a state check, a clock
read and a write. Every chunk towards an instance passes `Fleet.resume_now()` first, which is what
lets pooled connections survive a pause (lifecycle.py states the invariant and keeps its other half).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any, cast

from . import startup
from .fleet import Fleet, Managed, RouteError
from .postgres import PostgresError

log = logging.getLogger("breakwater.hosts.proxy")

STARTUP_TIMEOUT = 15.0  # a client that never finishes its startup message is dropped


class Proxy:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.server: asyncio.Server | None = None
        self.cancel_keys: dict[tuple[int, int], Managed] = {}
        self.open = 0
        self.accepted = 0
        self.refused = 0
        self.startup_timeout = STARTUP_TIMEOUT
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: ClientSide(self), host, port, backlog=4096)
        bound: int = self.server.sockets[0].getsockname()[1]
        self.fleet.proxy_port = bound
        return bound

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)
        for task in list(self._tasks):
            task.cancel()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self, request: startup.CancelRequest) -> None:
        """Forward a CancelRequest to the instance whose backend it names; unknown keys are ignored,
        as Postgres does (the client learns nothing either way)."""
        managed = self.cancel_keys.get((request.pid, request.key))
        if managed is None or managed.state not in ("running", "paused"):
            return
        self.fleet.resume_now(managed)
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_unix_connection(str(managed.instance.socket_path()))
            writer.write(startup.cancel_request(request.pid, request.key))
            await writer.drain()
            writer.close()


class ClientSide(asyncio.Protocol):
    """The client's connection: startup handling, then relaying towards the instance."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.fleet = proxy.fleet
        self.transport: asyncio.Transport | None = None
        self.server: ServerSide | None = None
        self.managed: Managed | None = None
        self.relaying = False
        self.routing = False  # the StartupMessage is read; waking and connecting are under way
        self.buffer = bytearray()
        self.timeout: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.proxy.open += 1
        self.timeout = asyncio.get_running_loop().call_later(self.proxy.startup_timeout, transport.abort)

    def data_received(self, data: bytes) -> None:
        if self.relaying:
            managed, server = self.managed, self.server
            assert managed is not None and server is not None and server.transport is not None
            if managed.state != "running":
                self.fleet.resume_now(managed)
            managed.last_active = time.monotonic()
            server.transport.write(data)
            return
        self.buffer += data
        if not self.routing:
            self._read_first_messages()

    def _read_first_messages(self) -> None:
        assert self.transport is not None
        while True:
            try:
                length = startup.first_message_length(self.buffer)
                if length is None or len(self.buffer) < length:
                    return
                message = startup.parse_first_message(bytes(self.buffer[:length]))
            except startup.StartupError as exc:
                self.refuse(exc.sqlstate, str(exc))
                return
            if isinstance(message, startup.SslRequest | startup.GssEncRequest):
                del self.buffer[:length]
                self.transport.write(b"N")
                continue
            if isinstance(message, startup.CancelRequest):
                self.proxy.spawn(self.proxy.cancel(message))
                self.transport.close()
                return
            raw = bytes(self.buffer[:length])
            del self.buffer[:length]
            self.routing = True
            self.transport.pause_reading()
            self.proxy.spawn(self._connect(message, raw))
            return

    async def _connect(self, message: startup.Startup, raw: bytes) -> None:
        assert self.transport is not None
        try:
            managed = self.fleet.route(message.database, message.user)
        except RouteError as exc:
            self.refuse(exc.sqlstate, str(exc), exc.detail)
            return
        self.managed = managed
        managed.touch()
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            try:
                await self.fleet.wake(managed)
                transport, server = await loop.create_unix_connection(
                    lambda: ServerSide(self), str(managed.instance.socket_path())
                )
                break
            except (OSError, PostgresError) as exc:
                if attempt == 0 and self.fleet.notice_exit(managed):
                    continue  # it had died: the next round starts it again
                log.warning(
                    "could not reach an instance",
                    extra={"fields": {"instance": managed.name, "error": str(exc)}},
                )
                self.refuse("57P03", f"the database could not be woken: {exc}")
                return
        if self.transport.is_closing():
            transport.close()
            return
        if self.timeout is not None:
            self.timeout.cancel()
        self.server = server
        self.proxy.accepted += 1
        self.fleet.resume_now(managed)  # it may have been paused while we connected
        managed.touch()
        transport.write(raw + bytes(self.buffer))
        self.buffer.clear()
        self.relaying = True
        self.transport.resume_reading()

    def refuse(self, sqlstate: str, message: str, detail: str = "") -> None:
        assert self.transport is not None
        self.proxy.refused += 1
        if self.transport.is_closing():
            return
        self.transport.write(startup.error_response(sqlstate, message, detail))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.proxy.open -= 1
        if self.timeout is not None:
            self.timeout.cancel()
        if self.server is not None and self.server.transport is not None:
            self.server.transport.close()

    # Back-pressure: a slow client slows the instance's side down, and the other way round.
    def pause_writing(self) -> None:
        if self.server is not None and self.server.transport is not None:
            self.server.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.server is not None and self.server.transport is not None:
            self.server.transport.resume_reading()


class ServerSide(asyncio.Protocol):
    """The connection to the instance: relays towards the client, noting the backend key (its pid
    tells the idle policy which of the instance's sessions came through the proxy)."""

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.handshake: startup.HandshakeWatcher | None = startup.HandshakeWatcher()
        self.key: tuple[int, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        managed = self.client.managed
        assert managed is not None and self.client.transport is not None
        managed.last_active = time.monotonic()
        if self.handshake is not None:
            self.handshake.feed(data)
            if self.handshake.done:
                self.key = self.handshake.backend_key
                if self.key is not None:
                    self.client.proxy.cancel_keys[self.key] = managed
                    managed.upstream_pids.add(self.key[0])
                self.handshake = None
        self.client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        managed = self.client.managed
        if self.key is not None:
            if managed is not None:
                managed.upstream_pids.discard(self.key[0])
            self.client.proxy.cancel_keys.pop(self.key, None)
        if self.client.transport is not None:
            self.client.transport.close()

    def pause_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.resume_reading()

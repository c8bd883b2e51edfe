"""The `EventQueue` Durable Objects on the host: SQLite storage per database, R2 as local files,
WebSockets from uvicorn, alarms on the event loop. Calls into one object are serialized, as the
input gate does in Cloudflare."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bwedge.eventqueue import EventQueue, QueueSettings, Socket
from bwedge.subscription import Subscription

from .storage import SqliteStorage, object_path

log = logging.getLogger("breakwater.edge")


class FileBlobStore:
    """R2 over a directory (or memory, without a state directory)."""

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._memory: dict[str, str] = {}

    def _path(self, key: str) -> Path:
        assert self._root is not None
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"bad object key {key!r}")
        return self._root / key

    async def put(self, key: str, text: str) -> None:
        if self._root is None:
            self._memory[key] = text
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)  # an object appears whole or not at all, as in R2

    async def get(self, key: str) -> str | None:
        if self._root is None:
            return self._memory.get(key)
        try:
            return self._path(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            if self._root is None:
                self._memory.pop(key, None)
            else:
                self._path(key).unlink(missing_ok=True)


class LocalSocket:
    """A WebSocket as the queue sees it: `send` never blocks; a writer task drains it to uvicorn."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.closed = False

    def send(self, text: str) -> None:
        if not self.closed:
            self.outbox.put_nowait(("text", text))

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(("close", (code, reason)))


class _Sockets:
    def __init__(self) -> None:
        self.open: dict[str, LocalSocket] = {}

    def get(self, socket_id: str) -> Socket | None:
        return self.open.get(socket_id)


@dataclass
class _Object:
    queue: EventQueue
    sockets: _Sockets
    lock: asyncio.Lock
    storage: SqliteStorage
    alarm: asyncio.TimerHandle | None = None

    @contextlib.asynccontextmanager
    async def gate(self) -> AsyncIterator[None]:
        """One call into the object at a time (the input gate), its writes coalesced."""
        async with self.lock:
            with self.storage.coalesced():
                yield


@dataclass(frozen=True)
class LocalUpgrade:
    """What `connect` hands the server: accept the socket and serve it from this database's queue."""

    database_id: str
    subscription: dict[str, Any]
    key_id: str = ""


class LocalQueues:
    def __init__(self, state_dir: Path | None, settings: QueueSettings) -> None:
        self._state_dir = state_dir
        self._settings = settings
        self._blobs = FileBlobStore(state_dir / "r2" if state_dir else None)
        self._objects: dict[str, _Object] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def _get(self, database_id: str) -> _Object:
        found = self._objects.get(database_id)
        if found is None:
            storage = SqliteStorage(object_path(self._state_dir, "EventQueue", database_id))
            sockets = _Sockets()

            async def schedule(at: float) -> None:
                self._schedule(database_id, at)

            queue = EventQueue(
                database_id, storage, self._blobs, sockets, time.time, self._settings, schedule
            )
            found = _Object(queue, sockets, asyncio.Lock(), storage)
            self._objects[database_id] = found
        return found

    # --- QueuesPort -------------------------------------------------------------------------------

    async def append(self, database_id: str, body: str) -> dict[str, Any]:
        obj = self._get(database_id)
        async with obj.gate():
            return await obj.queue.append(body)

    async def append_part(
        self, database_id: str, offset: str, index: int, count: int, text: str
    ) -> dict[str, Any]:
        obj = self._get(database_id)
        async with obj.gate():
            return await obj.queue.append_part(offset, index, count, text)

    async def connect(self, database_id: str, subscription: dict[str, Any], key_id: str, request: Any) -> Any:
        return LocalUpgrade(database_id, subscription, key_id)

    async def revoke(self, database_id: str, key_ids: list[str], everything: bool) -> int:
        obj = self._get(database_id)
        async with obj.gate():
            return await obj.queue.revoke(key_ids, everything)

    async def figures(self, database_id: str) -> dict[str, Any]:
        obj = self._get(database_id)
        async with obj.gate():
            return obj.queue.figures()

    # --- sockets ----------------------------------------------------------------------------------

    async def serve(self, upgrade: LocalUpgrade, receive: Any, send: Any) -> None:
        """Run one accepted WebSocket until either side closes it."""
        obj = self._get(upgrade.database_id)
        socket_id = secrets.token_hex(8)
        socket = LocalSocket()
        obj.sockets.open[socket_id] = socket
        writer = asyncio.ensure_future(self._write(socket, send))
        try:
            async with obj.gate():
                await obj.queue.open(socket_id, Subscription.from_json(upgrade.subscription), upgrade.key_id)
            while not socket.closed:
                reading = asyncio.ensure_future(receive())
                done, _ = await asyncio.wait({reading, writer}, return_when=asyncio.FIRST_COMPLETED)
                if reading not in done:
                    reading.cancel()
                    break  # the writer ended: the queue closed the socket
                message = reading.result()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
                async with obj.gate():
                    await obj.queue.message(socket_id, text)
        finally:
            socket.closed = True
            obj.sockets.open.pop(socket_id, None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            async with obj.gate():
                await obj.queue.closed(socket_id)

    @staticmethod
    async def _write(socket: LocalSocket, send: Any) -> None:
        while True:
            kind, item = await socket.outbox.get()
            if kind == "text":
                await send({"type": "websocket.send", "text": item})
            else:
                code, reason = item
                await send({"type": "websocket.close", "code": code, "reason": reason})
                return

    # --- alarms -----------------------------------------------------------------------------------

    def _schedule(self, database_id: str, at: float) -> None:
        obj = self._get(database_id)
        if obj.alarm is not None:
            obj.alarm.cancel()
        loop = asyncio.get_running_loop()
        obj.alarm = loop.call_at(loop.time() + max(0.0, at - time.time()), self._fire, database_id)

    def _fire(self, database_id: str) -> None:
        task = asyncio.ensure_future(self._alarm(database_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _alarm(self, database_id: str) -> None:
        obj = self._get(database_id)
        obj.alarm = None
        try:
            async with obj.gate():
                result = await obj.queue.alarm()
            log.debug("event queue maintenance", extra={"fields": {"database": database_id, **result}})
        except Exception:
            log.exception("event queue maintenance failed", extra={"fields": {"database": database_id}})

    async def aclose(self) -> None:
        for obj in self._objects.values():
            if obj.alarm is not None:
                obj.alarm.cancel()
            for socket in obj.sockets.open.values():
                socket.close(1012, "the edge is restarting")
        await asyncio.sleep(0)

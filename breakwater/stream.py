"""Change events over a WebSocket: `db.<model>.stream(...)`.

    async with db.user.stream(name="search-sync", actions=["create"]) as events:
        async for event in events:
            index(event["created"])
            await events.ack(event)

A named stream keeps its place on the server: after a reconnect it resumes after the last
acknowledged event and sends again what was not acknowledged (at least once). With `auto_ack=True`
an event is acknowledged when the loop asks for the next one, i.e. once its body has run. The
connection is re-opened with backoff when it drops; an unnamed stream then continues after the last
event it received. Events are plain dicts: `id`, `offset`, `modelName`, `action`, `created` |
`before`+`after` | `deleted`, `commitTime`, and `partial` when the old image carries only the key.
A `truncate` event (the table was emptied) has no record; `cascade` / `restartIdentity` say how.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bwcontract.codes import Code

CLOSE_REPLACED = 4001
REFUSED_QUICK_SECONDS = 30.0  # retry a refused connection at the first backoff's pace this long
CLOSE_REVOKED = 4401  # the key was revoked: reconnecting cannot help
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class StreamError(Exception):
    """The stream cannot go on: refused (bad key, unknown model, bad filter) or taken over."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class EventStream:
    """Opened by `Client` (`db.<model>.stream(...)`): `base_url` and `authorization` are the client's,
    and `model` names the stream's model (asked at each connection; None: every model)."""

    def __init__(
        self,
        base_url: str,
        authorization: str,
        model: Callable[[], Awaitable[str]] | None,
        *,
        name: str | None = None,
        actions: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        filter_on: str | None = None,
        offset: str | None = None,
        window: int | None = None,
        auto_ack: bool = False,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.05, 5.0),
    ) -> None:
        self._base_url = base_url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self._authorization = authorization
        self._model = model
        self.name = name
        self._params: dict[str, str] = {}
        if name:
            self._params["name"] = name
        if actions:
            self._params["actions"] = ",".join(actions)
        if where is not None:
            self._params["where"] = json.dumps(where, separators=(",", ":"))
        if filter_on:
            self._params["filterOn"] = filter_on
        if window:
            self._params["window"] = str(window)
        self._offset = offset
        self.auto_ack = auto_ack
        self.reconnect = reconnect
        self._backoff = backoff
        self._ws: Any = None
        self._buffer: deque[dict[str, Any]] = deque()
        self._parts: list[str] = []
        self._seen: str | None = None  # highest offset received in this session
        self._acked: str | None = None  # highest offset the application acknowledged
        self._ack_sent: str | None = None  # highest acknowledgement sent on the current socket
        self._ack_task: asyncio.Task[None] | None = None
        self._unacked: dict[str, Any] | None = None
        self.connections = 0
        self.closed = False

    async def __aenter__(self) -> EventStream:
        await self._connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self.auto_ack and self._unacked is not None:
            await self.ack(self._unacked)
            self._unacked = None
        while not self._buffer:
            if self.closed:
                raise StopAsyncIteration
            await self._receive()
        event = self._buffer.popleft()
        if self.auto_ack:
            self._unacked = event
        return event

    async def ack(self, event: dict[str, Any] | str) -> None:
        """Everything up to this event is processed (cumulative). Acknowledgements are coalesced: one
        message carries the latest whenever the loop next waits. Lost acks just mean redelivery."""
        offset = event if isinstance(event, str) else str(event["offset"])
        if self._acked is None or offset > self._acked:
            self._acked = offset
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.ensure_future(self._send_acks())

    async def _send_acks(self) -> None:
        await asyncio.sleep(0)
        while self._ws is not None and self._acked is not None and self._acked != self._ack_sent:
            offset = self._acked
            try:
                await self._ws.send(json.dumps({"type": "ack", "offset": offset}))
            except ConnectionClosed:
                return
            self._ack_sent = offset

    async def close(self) -> None:
        self.closed = True
        if self._ack_task is not None:
            await self._ack_task
        await self._send_acks()
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    def drop_connection(self) -> None:
        """Cut the socket without a close handshake, as a network failure would (used by tests)."""
        if self._ws is not None:
            self._ws.transport.abort()

    # --- connection -------------------------------------------------------------------------------

    async def _url(self) -> tuple[str, dict[str, str]]:
        params = dict(self._params)
        if self._model is not None:
            params["models"] = await self._model()
        offset = self._seen if (self._seen and not self.name) else self._offset
        if offset:
            params["offset"] = offset
        return f"{self._base_url}/v1/stream?{urlencode(params)}", {"authorization": self._authorization}

    async def _connect(self) -> None:
        delay = self._backoff[0]
        refused_since: float | None = None
        while True:
            url, headers = await self._url()
            try:
                self._ws = await websockets.connect(
                    url, additional_headers=headers, max_size=None, open_timeout=30, ping_interval=20
                )
            except InvalidStatus as exc:
                error = _refusal(exc)
                if not self.reconnect or error.status not in _RETRYABLE_STATUS:
                    raise error from None
            except ConnectionRefusedError:
                if not self.reconnect:
                    raise
                # Nothing listens (the edge restarting): a refused connect costs little, so for a
                # while try again at the first backoff's pace rather than doubling, to be back at once.
                refused_since = refused_since or time.monotonic()
                if time.monotonic() - refused_since < REFUSED_QUICK_SECONDS:
                    await asyncio.sleep(self._backoff[0] * (0.5 + random.random()))  # noqa: S311 (jitter)
                    continue
            except (OSError, TimeoutError, websockets.exceptions.InvalidHandshake):
                if not self.reconnect:
                    raise
            else:
                self.connections += 1
                self._ack_sent = None
                return
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 (jitter)
            delay = min(delay * 2, self._backoff[1])

    async def _receive(self) -> None:
        try:
            text = await self._ws.recv()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            self._ws = None
            self._parts = []
            if code == CLOSE_REPLACED:
                raise StreamError(
                    Code.STREAM_TAKEN_OVER.status,
                    Code.STREAM_TAKEN_OVER,
                    "Another consumer connected to this named stream.",
                ) from None
            if code == CLOSE_REVOKED:
                self.closed = True
                raise StreamError(
                    Code.KEY_INVALID.status,
                    Code.KEY_INVALID,
                    "API key is invalid: this key has been revoked.",
                ) from None
            if self.closed or not self.reconnect:
                self.closed = True
                return
            await self._connect()
            return
        message = json.loads(text)
        kind = message.get("type")
        if kind in ("events", "part"):
            if kind == "events":
                redelivered = [e["offset"] for e in message["events"] if not self._accept(e)]
            else:
                self._parts.append(message["data"])
                redelivered = []
                if message["last"]:
                    event = json.loads("".join(self._parts))
                    self._parts = []
                    redelivered = [] if self._accept(event) else [event["offset"]]
            # Sent again after a reconnect though the application already acknowledged them (the
            # acknowledgement was lost with the old socket): acknowledge again, or the window stays full.
            if self._acked is not None and any(offset <= self._acked for offset in redelivered):
                await self.ack(self._acked)
        elif kind == "error":
            raise StreamError(400, str(message.get("code")), str(message.get("message")))

    def _accept(self, event: dict[str, Any]) -> bool:
        # Redelivered after a reconnect but already handed out in this session: skip it. Offsets are
        # fixed-width hex, so they compare as strings.
        if self._seen is not None and event["offset"] <= self._seen:
            return False
        self._seen = event["offset"]
        self._buffer.append(event)
        return True


def _refusal(exc: InvalidStatus) -> StreamError:
    response = exc.response
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        body = {}
    return StreamError(
        response.status_code,
        str(body.get("code", response.status_code)),
        str(body.get("message", (response.body or b"").decode(errors="replace"))),
    )

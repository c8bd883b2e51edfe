"""The one place the origin records each operation it served: an `Observation` per operation, published
to whoever subscribed (metering first; query insights next).

An operation is what a client asked the database for: a Prisma model operation, a raw query, a `/v1`
query, a Prisma 7 plan; each query of a batch is one. A front notes its operations on the request's
`Served` as soon as it has read them (`Served.start`), times each while it runs, and the app's `Answer`
publishes them once the response's last byte is handed to the server, with the bytes sent
and, when the whole answer is an error, its code. So what is published is exactly what was answered:
an operation refused before it was read (a bad key, a malformed body, the plan limit) is none.

Subscribers are called synchronously on the event loop, once per observation: they must be cheap and
must not block (metering appends a line to its journal). A subscriber that raises is logged and never
fails the request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.types import Message, Scope, Send

from .caller import Caller
from .engine.outcome import shape_id

__all__ = [
    "Answer",
    "Observation",
    "ObservationHub",
    "Operation",
    "Served",
    "served",
    "served_from",
    "shape_id",
]

log = logging.getLogger("breakwater.observe")

_SCOPE_KEY = "breakwater.served"


@dataclass(frozen=True, slots=True)
class Observation:
    database_id: str
    key_id: str
    protocol: str  # prisma6 | prisma7 | v1
    model: str | None
    action: str  # findMany, createOne, …, queryRaw, executeRaw; a Prisma 7 plan's `operation`
    shape: str | None  # the operation's shape without its values (`shape_id`), when the engine has one
    duration_ms: float | None  # from its start to its result, connection wait included; None: never ran
    rows: int | None  # rows it returned or changed, when known
    response_bytes: int  # its share of the response body (a batch's envelope goes to its first query)
    error: str | None  # the error code it was answered with, None when it succeeded
    transaction: str | None  # the interactive transaction it ran in
    arrived_at: float  # unix time the request arrived
    background: bool = False  # the edge refreshing a cache entry on its own (not a client's operation)


Subscriber = Callable[[Observation], None]


class ObservationHub:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, observations: Sequence[Observation]) -> None:
        for subscriber in self._subscribers:
            for observation in observations:
                try:
                    subscriber(observation)
                except Exception:
                    log.exception("an observation subscriber failed")


@dataclass(slots=True)
class Operation:
    """One operation of a request, as its front notes it."""

    caller: Caller
    protocol: str
    model: str | None
    action: str
    transaction: str | None
    shape: str | None = None
    rows: int | None = None
    error: str | None = None
    part_bytes: int | None = None  # its part of a batch's answer, when the front knows it
    duration_ms: float | None = None

    @contextmanager
    def running(self) -> Iterator[Operation]:
        """Time the operation; a Breakwater error it raises is its error code."""
        started = time.perf_counter()
        try:
            yield self
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, str) and self.error is None:
                self.error = code
            raise
        finally:
            self.duration_ms = (time.perf_counter() - started) * 1000


@dataclass
class Served:
    """The operations of one request; the middleware publishes them with the response."""

    arrived_at: float
    operations: list[Operation] = field(default_factory=list)

    def start(
        self, caller: Caller, protocol: str, model: str | None, action: str, transaction: str | None
    ) -> Operation:
        operation = Operation(caller, protocol, model, action, transaction)
        self.operations.append(operation)
        return operation

    def observations(self, body_bytes: int, error: str | None) -> list[Observation]:
        """Each operation with its bytes; when the whole answer is an error (`error`: its code), every
        operation of it failed with it (a transactional batch, an answer over the size limit)."""
        parts = [op.part_bytes or 0 for op in self.operations]
        if len(self.operations) == 1 or sum(parts) > body_bytes:
            parts = [body_bytes] + [0] * (len(self.operations) - 1)
        else:
            parts[0] += body_bytes - sum(parts)
        return [
            Observation(
                database_id=op.caller.database_id,
                key_id=op.caller.key_id,
                protocol=op.protocol,
                model=op.model,
                action=op.action,
                shape=op.shape,
                duration_ms=op.duration_ms,
                rows=op.rows,
                response_bytes=size,
                error=error or op.error,
                transaction=op.transaction,
                arrived_at=self.arrived_at,
                background=op.caller.background,
            )
            for op, size in zip(self.operations, parts, strict=True)
        ]


def served(request: Request) -> Served:
    """The request's record of operations (a fresh one when no app made one: tests, tools)."""
    return served_from(request.scope)


def served_from(scope: Scope) -> Served:
    found = scope.get(_SCOPE_KEY)
    if not isinstance(found, Served):
        found = scope[_SCOPE_KEY] = Served(time.time())
    return found


class Answer:
    """Watches a request's answer on its way out (`send` in its place) and publishes the request's
    operations when its last body byte is handed to the server, so a response the server sent is one
    the subscribers saw: a crash after that loses nothing they would have counted."""

    __slots__ = ("_hub", "_published", "_record", "_send", "error", "sent", "started")

    def __init__(self, send: Send, record: Served, hub: ObservationHub) -> None:
        self._send = send
        self._record = record
        self._hub = hub
        self._published = False
        self.started = False
        self.sent = 0
        self.error: str | None = None  # the code of an answer that is an error (Prisma-Error-Code)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            for name, value in message.get("headers", ()):
                if name.lower() == b"prisma-error-code":
                    self.error = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            self.sent += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.publish()
        await self._send(message)

    def publish(self) -> None:
        """Publish the operations once (also for an answer that never finished: they still ran)."""
        if self._record.operations and not self._published:
            self._published = True
            self._hub.publish(self._record.observations(self.sent, self.error))

"""Bounding one request's work on a tenant connection: its time, the bytes the database sends back,
and a way for the pool to take the connection back.

- Time: Postgres cancels a statement itself at `statement_timeout` (set in each connection's startup
  packet, see `Limits.server_settings`). A tenant can turn that off in its own session (`SET
  statement_timeout = 0`), so the origin keeps its own deadline: `GRACE_SECONDS` after the limit it
  stops the work. Stopping cancels the task; asyncpg then sends Postgres a CancelRequest for the
  statement in flight (the host proxy routes it), and the next use of the connection waits for
  Postgres to acknowledge it; if Postgres does not within `KILL_AFTER_SECONDS`, the connection is
  terminated (and `client_connection_check_interval` makes the backend notice its client is gone).
- Bytes: asyncpg reads a whole result into memory before handing it over, so the count happens
  below it: `ResultMeter` sits between the connection's transport and asyncpg's protocol, counts
  what arrives while a request's budget is set, and aborts the connection once it is exceeded. The
  origin holds at most one read chunk more than the budget, whatever the result's size.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, cast

import asyncpg

from bwcontract.codes import Code

from .errors import BreakwaterError
from .limits import Limits, query_timeout, response_too_large

GRACE_SECONDS = 0.5  # past the query timeout, before the origin stops what Postgres did not
KILL_AFTER_SECONDS = 2.0  # a cancelled statement still running this long ends its connection


class Stop:
    """A scope whose work someone else can stop with a reason: a deadline, or the pool taking the
    connection back. The task is cancelled, and the scope raises the reason instead of
    CancelledError (a cancellation from outside, e.g. the client going away, stays one)."""

    def __init__(self) -> None:
        self._task: asyncio.Task[Any] | None = None
        self._cancelling = 0
        self._inside = False
        self.reason: BreakwaterError | None = None
        self.why = ""

    async def __aenter__(self) -> Stop:
        self._task = asyncio.current_task()
        assert self._task is not None, "Stop is used inside a task"
        self._cancelling = self._task.cancelling()
        self._inside = True
        return self

    def stop(self, reason: BreakwaterError, why: str) -> bool:
        """Stop the work (once); False if it already ended or was stopped."""
        if not self._inside or self.reason is not None or self._task is None:
            return False
        self.reason, self.why = reason, why
        self._task.cancel()
        return True

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inside = False
        if self.reason is None or self._task is None:
            return
        if self._task.uncancel() > self._cancelling:
            return  # cancelled from outside as well: that cancellation goes on
        if kind is not None:
            # The CancelledError, or whatever the layers above raised while unwinding from it.
            raise self.reason from None


class ResultMeter(asyncio.Protocol):
    """Counts what the server sends on one connection while a budget is set; over it, aborts the
    connection (asyncpg then fails the statement in flight with a closed-connection error)."""

    def __init__(self, inner: asyncio.Protocol, transport: asyncio.Transport) -> None:
        self.inner = inner
        self.transport = transport
        self.budget: int | None = None
        self.received = 0
        self.exceeded = False

    def begin(self, budget: int) -> None:
        self.budget, self.received, self.exceeded = budget, 0, False

    def end(self) -> None:
        self.budget = None

    def data_received(self, data: bytes) -> None:
        if self.budget is not None:
            self.received += len(data)
            if self.received > self.budget:
                self.exceeded = True
                self.budget = None
                self.transport.abort()
                return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class TenantConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg has no stubs
    """A tenant connection as the pool opens it: metered, and marked with the limits it started with."""

    __slots__ = ("meter", "startup_settings")

    def install_meter(self) -> ResultMeter:
        # asyncpg has no hook for its transport's protocol; its own attributes are the only way in
        # (tests/origin/test_guard.py fails loudly if they change).
        transport = cast(asyncio.Transport, self._transport)
        meter = ResultMeter(cast(asyncio.Protocol, self._protocol), transport)
        transport.set_protocol(meter)
        self.meter = meter
        return meter


def meter_of(conn: asyncpg.Connection) -> ResultMeter | None:
    return getattr(conn, "meter", None) if isinstance(conn, TenantConnection) else None


class Bounded(Stop):
    """A Stop scope that also keeps a request's limits: its deadline and the bytes it may read."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        limits: Limits,
        deadline: float | None,
        deadline_error: BreakwaterError | None,
        deadline_why: str,
    ) -> None:
        super().__init__()
        self._limits = limits
        self._deadline = deadline
        self._deadline_error = deadline_error
        self._deadline_why = deadline_why
        self._meter = meter_of(conn)
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> Bounded:
        await super().__aenter__()
        loop = asyncio.get_running_loop()
        deadline = self._deadline
        if deadline is None:
            deadline = loop.time() + self._limits.query_timeout_ms / 1000 + GRACE_SECONDS
        self._timer = loop.call_at(deadline, self._expire)
        if self._meter is not None:
            self._meter.begin(self._limits.response_bytes)
        return self

    def _expire(self) -> None:
        self.stop(self._deadline_error or query_timeout(self._limits), self._deadline_why)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._meter is not None:
            self._meter.end()
        try:
            await super().__aexit__(kind, exc, tb)
        except BaseException as reason:  # the work was stopped: the reason replaces what unwound it
            kind, exc = type(reason), reason
        if kind is None or issubclass(kind, asyncio.CancelledError):
            return  # done, or cancelled from outside: that goes on as it is
        if self._meter is not None and self._meter.exceeded:
            raise response_too_large(self._limits) from None
        if isinstance(exc, asyncpg.QueryCanceledError) or (
            isinstance(exc, BreakwaterError) and exc.code == Code.QUERY_TIMEOUT and exc is not self.reason
        ):
            # Postgres's own statement_timeout (or a cancel) reported by the layers above.
            raise query_timeout(self._limits) from None
        if self.reason is not None and exc is self.reason:
            raise self.reason


def bounded(
    conn: asyncpg.Connection,
    limits: Limits,
    *,
    deadline: float | None = None,
    deadline_error: BreakwaterError | None = None,
    deadline_why: str = "timeout",
) -> Bounded:
    """Run a request's work on `conn` within `limits`: stopped at `deadline` (loop time; default the
    query timeout plus grace) with `deadline_error` (default P6004), P6009 once the database has sent
    more than `response_bytes`. The scope lets the pool end the work early (`stop`)."""
    return Bounded(conn, limits, deadline, deadline_error, deadline_why)

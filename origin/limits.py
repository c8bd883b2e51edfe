"""Per-database limits: how much of the platform one tenant's requests may use, and where the values
come from. Enforcement lives where the resource is spent (`guard.py`, `tenants.py`, the fronts).

A database's effective limits are its operator overrides (control plane, `database_limits`), else its
workspace's plan's (`plans.limits`, origin/metering/plans.py), else the defaults (`BREAKWATER_LIMIT_*`).
`LimitsBook.of()` is the call the request path makes: answers are kept per process for `ttl` seconds,
so a change made through the admin API reaches every origin process within seconds (this one at once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, create_model

from bwcontract.codes import Code

from .errors import BadRequest, BreakwaterError
from .jsoninput import validated

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    query_timeout_ms: int = 10_000  # one request's statements; Postgres cancels them (P6004)
    transaction_timeout_ms: int = 15_000  # the longest interactive transaction a client may ask for
    idle_in_transaction_timeout_ms: int = 20_000  # Postgres ends a session idle that long in a transaction
    response_bytes: int = 5 * MiB  # what the database sends for a request, and the encoded answer (P6009)
    request_bytes: int = 10 * MiB  # a request body (BW1413)
    schema_bytes: int = 2 * MiB  # a Prisma 6 schema upload (BW1413)
    waiting_requests: int = 1000  # requests waiting for one of the database's connections (BW1429)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def server_settings(self) -> dict[str, str]:
        """Sent in each connection's startup packet: Postgres enforces them itself, exactly.

        JIT is off: the engine's SQL for one Prisma query (a cursor page ordered through a relation,
        say) is one statement of many correlated subqueries whose estimated cost passes
        `jit_above_cost` on tables never analyzed, and compiling it took seconds (P6004 at the
        query timeout under load) to run a plan that takes a millisecond. A tenant may turn it
        back on in its own session."""
        return {
            "statement_timeout": str(self.query_timeout_ms),
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_timeout_ms),
            "jit": "off",
        }


NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Limits))
# The origin refuses any body larger than this before it knows the database (and so its limits);
# no database's `request_bytes` may exceed it.
MAX_REQUEST_BYTES = int(os.environ.get("BREAKWATER_MAX_REQUEST_BYTES") or 32 * MiB)
_HOUR_MS = 3_600_000
# What an override may be: small enough for Postgres's int settings, and never "no limit".
RANGES: dict[str, tuple[int, int]] = {
    "query_timeout_ms": (100, _HOUR_MS),
    "transaction_timeout_ms": (100, _HOUR_MS),
    "idle_in_transaction_timeout_ms": (1000, _HOUR_MS),
    "response_bytes": (1024, 1024 * MiB),
    "request_bytes": (1024, MAX_REQUEST_BYTES),
    "schema_bytes": (1024, MAX_REQUEST_BYTES),
    "waiting_requests": (1, 100_000),  # with none, a pool could never open its first connection
}


def env_name(name: str) -> str:
    return "BREAKWATER_LIMIT_" + name.upper()


def _override(low: int, high: int) -> Any:
    # Strict: a whole number (never a string, a boolean or 5.0) in range; null: back to the default.
    return Annotated[
        int | None,
        Field(strict=True, ge=low, le=high, description=f"a whole number from {low} to {high}, or null"),
    ]


# Overrides of some limits (`PUT /admin/databases/{name}/limits`, and `BREAKWATER_LIMIT_*`): the
# fields given are set, a null one goes back to the default, an unknown one is refused.
_OVERRIDE_FIELDS: dict[str, Any] = {
    name: (_override(low, high), None) for name, (low, high) in RANGES.items()
}
Overrides: type[BaseModel] = create_model(
    "Overrides", __config__=ConfigDict(extra="forbid"), **_OVERRIDE_FIELDS
)


def defaults_from_env(env: Mapping[str, str] | None = None) -> Limits:
    env = os.environ if env is None else env
    values: dict[str, int] = {}
    for name in NAMES:
        raw = env.get(env_name(name))
        if raw:
            try:
                values[name] = validated(Overrides, {name: int(raw)}, env_name(name)).model_dump()[name]
            except (ValueError, BadRequest) as exc:
                raise ValueError(f"{env_name(name)}={raw!r}: {exc}") from None
    return Limits(**values)


def apply(defaults: Limits, overrides: Mapping[str, int | None]) -> Limits:
    return dataclasses.replace(defaults, **{k: v for k, v in overrides.items() if v is not None})


class OverrideStore(Protocol):
    async def limit_overrides(self, database_id: str) -> dict[str, int | None]: ...


class PlanStore(Protocol):
    async def plan_limits(self, database_id: str) -> dict[str, int]:
        """The limits the database's workspace's plan sets ({} when it sets none)."""
        ...


class LimitsBook:
    """Effective limits per database, cached for `ttl` seconds."""

    def __init__(
        self, store: OverrideStore | None, defaults: Limits, ttl: float = 2.0, plans: PlanStore | None = None
    ) -> None:
        self._store = store
        self._plans = plans
        self.defaults = defaults
        self._ttl = ttl
        self._known: dict[str, tuple[float, Limits]] = {}
        self._loading: dict[str, asyncio.Future[Limits]] = {}

    async def of(self, database_id: str) -> Limits:
        known = self._known.get(database_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        # One control-plane read per database at a time: a flood of one tenant's requests whose
        # answer expired together must not queue everyone else's reads behind its own.
        loading = self._loading.get(database_id)
        if loading is None:
            loading = self._loading[database_id] = asyncio.ensure_future(self._load(database_id))

            def done(future: asyncio.Future[Limits]) -> None:
                if self._loading.get(database_id) is future:
                    del self._loading[database_id]

            loading.add_done_callback(done)
        return await asyncio.shield(loading)

    async def _load(self, database_id: str) -> Limits:
        limits = self.defaults
        if self._plans is not None:
            limits = apply(limits, await self._plans.plan_limits(database_id))
        if self._store is not None:
            limits = apply(limits, await self._store.limit_overrides(database_id))
        if self._loading.get(database_id) is asyncio.current_task():  # not forgotten meanwhile
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[database_id] = (time.monotonic() + self._ttl, limits)
        return limits

    def forget(self, database_id: str) -> None:
        """Read this database's limits again on its next request (they were just changed)."""
        self._known.pop(database_id, None)
        self._loading.pop(database_id, None)


# --- the errors a limit answers with ------------------------------------------------------------


class QueryTimeout(BreakwaterError):
    code = Code.QUERY_TIMEOUT


def query_timeout(limits: Limits) -> QueryTimeout:
    seconds = limits.query_timeout_ms / 1000
    return QueryTimeout(
        f"The query ran longer than this database's query timeout ({seconds:g} s) and was cancelled.",
        meta={"query_timeout_ms": limits.query_timeout_ms},
        hint="Make the query cheaper (an index, a narrower filter), or ask the operator for a higher limit.",
    )


class ResponseTooLarge(BreakwaterError):
    code = Code.RESPONSE_TOO_LARGE


def check_response(limits: Limits, body: bytes) -> None:
    """The final check, on the encoded answer of every front."""
    if len(body) > limits.response_bytes:
        raise response_too_large(limits, len(body))


def response_too_large(limits: Limits, size: int | None = None) -> ResponseTooLarge:
    measured = f" ({size} bytes)" if size is not None else ""
    return ResponseTooLarge(
        f"The query's response is larger than this database's limit of {limits.response_bytes} bytes"
        f"{measured}.",
        meta={"response_bytes": limits.response_bytes},
        hint="Select fewer rows or columns (take/skip, select), or page through the result.",
    )


class PayloadTooLarge(BreakwaterError):
    code = Code.BODY_TOO_LARGE


def payload_too_large(what: str, limit: int, size: int | None = None) -> PayloadTooLarge:
    measured = f" ({size} bytes)" if size is not None else ""
    return PayloadTooLarge(
        f"The {what} is larger than the limit of {limit} bytes{measured}.",
        meta={"limit_bytes": limit},
        hint="Send less per request (split a createMany into batches).",
    )


class TooManyWaiting(BreakwaterError):
    code = Code.TOO_MANY_WAITING


def too_many_waiting(limits: Limits, retry_after: float = 1.0) -> TooManyWaiting:
    return TooManyWaiting(
        f"This database already has {limits.waiting_requests} requests waiting for a connection.",
        meta={"waiting_requests": limits.waiting_requests, "retry_after_seconds": math.ceil(retry_after)},
        hint="Send fewer concurrent requests, or retry after the time Retry-After says.",
    )

"""The pool's sizes and times (`BREAKWATER_POOL_*`), and the key of one pool."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PoolKey = tuple[str, bool]  # (database id, read-only role)


@dataclass(frozen=True)
class PoolSettings:
    per_database: int = 10
    per_host: int = 100
    wait_seconds: float = 10.0  # how long a request waits in line for a connection
    idle_seconds: float = 360.0  # a connection (and a pool) unused this long is closed
    connect_seconds: float = 15.0  # opening one connection, waking its database included
    active_seconds: float = 10.0  # used this recently, a database still counts for the fair share
    reclaim_after_seconds: float = 0.5  # held this long above its share, a connection can be taken back
    unreachable_seconds: float = 5.0  # a host's proxy refusing connections this long: BW3010

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PoolSettings:
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            return float(env.get(name) or default)

        return cls(
            per_database=int(number("BREAKWATER_POOL_PER_DATABASE", cls.per_database)),
            per_host=int(number("BREAKWATER_POOL_HOST_BUDGET", cls.per_host)),
            wait_seconds=number("BREAKWATER_POOL_WAIT_SECONDS", cls.wait_seconds),
            idle_seconds=number("BREAKWATER_POOL_IDLE_SECONDS", cls.idle_seconds),
            connect_seconds=number("BREAKWATER_POOL_CONNECT_SECONDS", cls.connect_seconds),
            active_seconds=number("BREAKWATER_POOL_ACTIVE_SECONDS", cls.active_seconds),
            reclaim_after_seconds=number("BREAKWATER_POOL_RECLAIM_SECONDS", cls.reclaim_after_seconds),
            unreachable_seconds=number("BREAKWATER_POOL_UNREACHABLE_SECONDS", cls.unreachable_seconds),
        )

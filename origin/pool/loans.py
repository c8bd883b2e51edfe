"""A connection as the pool holds it: lent out (`Loan`, what the fair-share rule may take back) or
idle (`Idle`, since when)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg


@dataclass(eq=False)
class Loan:
    """A connection lent out, as the fair-share rule sees it: since when, and how its holder's use
    of it can be ended (None: it cannot, e.g. the platform's own short work)."""

    conn: asyncpg.Connection
    since: float
    stop: Callable[[], object] | None = None
    reclaimed: bool = False


@dataclass
class Idle:
    conn: asyncpg.Connection
    since: float

"""Options of interactive transactions (`maxWait`, `timeout`), checked the same way on every front."""

from __future__ import annotations

from typing import Any

from ..errors import BadRequest

# Milliseconds fit a signed 32-bit integer (about 24 days), as in JavaScript timers; anything longer
# is a mistake, and a huge number would overflow the float arithmetic of the waits.
MAX_MILLISECONDS = 2**31 - 1


def milliseconds(body: dict[str, Any], name: str, default: int) -> int:
    """`body[name]` as whole milliseconds, or `default` when absent."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_MILLISECONDS:
        raise BadRequest(f"`{name}` must be a number of milliseconds from 0 to {MAX_MILLISECONDS}.")
    return int(value)


def isolation_level(body: dict[str, Any], name: str) -> str | None:
    """`body[name]` when given: a level's name (which levels exist is the transaction manager's call)."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"`{name}` must be the name of an isolation level, such as `Serializable`.")
    return value

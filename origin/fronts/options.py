"""Options of interactive transactions (`maxWait`, `timeout`, `isolationLevel`), one model checked the
same way on every front; Prisma 6 spells them in snake_case."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ..caller import Caller
from ..state import OriginState
from ..transactions import Transaction

# Milliseconds fit a signed 32-bit integer (about 24 days), as in JavaScript timers; anything longer
# is a mistake, and a huge number would overflow the float arithmetic of the waits.
MAX_MILLISECONDS = 2**31 - 1
_MILLISECONDS = f"a number of milliseconds from 0 to {MAX_MILLISECONDS}"
# Strict: a number, never a string or a boolean; fractions of a millisecond are dropped.
Milliseconds = Annotated[
    float, Field(strict=True, ge=0, le=MAX_MILLISECONDS, allow_inf_nan=False, description=_MILLISECONDS)
]
# Which levels exist is the transaction manager's call (P2023 for one it does not know).
IsolationLevel = Annotated[
    str | None, Field(strict=True, description="the name of an isolation level, such as `Serializable`")
]


class TransactionOptions(BaseModel):
    """`{"maxWait"?, "timeout"?, "isolationLevel"?}`: `/v1` and Prisma 7."""

    model_config = ConfigDict(frozen=True)

    max_wait: Milliseconds = Field(2000, alias="maxWait")
    timeout: Milliseconds = 5000
    isolation_level: IsolationLevel = Field(None, alias="isolationLevel")


class Prisma6TransactionOptions(TransactionOptions):
    """`{"max_wait"?, "timeout"?, "isolation_level"?}`: the Prisma 6 Data Proxy's spelling."""

    max_wait: Milliseconds = Field(2000, alias="max_wait")
    isolation_level: IsolationLevel = Field(None, alias="isolation_level")


async def open_transaction(state: OriginState, caller: Caller, options: TransactionOptions) -> Transaction:
    return await state.transactions.start(
        caller,
        max_wait_ms=int(options.max_wait),
        timeout_ms=int(options.timeout),
        isolation=options.isolation_level,
    )

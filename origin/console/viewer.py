"""Who is looking at the console, and what they may see and do: one table, tested as a table.

The operator (signed in with the admin token) sees every database and does everything. A team signs
in with an API key and sees that key's database only; what it may do follows the key's scope:

| action | operator | admin key | read-write key | read key |
|---|---|---|---|---|
| see its database's figures, usage, insights, keys (ids only), limits, streams | yes | yes | yes | yes |
| wake the database (a query would wake it too) | yes | yes | yes | no |
| create and revoke the database's keys | yes | yes | no | no |
| show the database's Postgres DSN | yes | yes | no | no |
| pause or hibernate it, change its limits | yes | no | no | no |
| workspaces, every database, hosts and the pool | yes | no | no | no |

The Postgres DSN is the owner role's password: it outlives every key (revoking a key does not
change it), so only those who may also make and revoke keys are shown it. A read-write key holder
already has everything the DSN gives through raw queries, but cannot keep it past a revocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bwcontract.codes import Code

from ..errors import Forbidden, NotFound


class Action(StrEnum):
    WAKE = "wake"
    KEYS = "keys"
    DSN = "dsn"
    PAUSE = "pause"
    HIBERNATE = "hibernate"
    LIMITS = "limits"
    OPERATE = "operate"  # the operator's pages: workspaces, hosts, the pool


_BY_SCOPE: dict[str, frozenset[Action]] = {
    "admin": frozenset({Action.WAKE, Action.KEYS, Action.DSN}),
    "read-write": frozenset({Action.WAKE}),
    "read": frozenset(),
}


@dataclass(frozen=True)
class Viewer:
    operator: bool
    database_id: str | None  # a team's: the database of the key it signed in with
    scope: str | None  # a team's: the key's scope
    csrf: str  # what this session's forms carry
    key_id: str | None = None

    @property
    def read_only(self) -> bool:
        return not self.operator and self.scope == "read"

    def sees(self, database_id: str) -> bool:
        return self.operator or database_id == self.database_id

    def may(self, action: Action) -> bool:
        return self.operator or action in _BY_SCOPE.get(self.scope or "", frozenset())

    def require_sight(self, database_id: str, name: str) -> None:
        """A team asking for another database hears what it would hear if it did not exist."""
        if not self.sees(database_id):
            raise NotFound(f"There is no database named {name!r}.")

    def require(self, action: Action) -> None:
        if self.may(action):
            return
        if self.read_only:
            raise Forbidden(
                "This key is read-only: its console view cannot change anything.",
                hint="Sign in with a read-write or admin key of the database, or as the operator.",
            )
        raise Forbidden(
            f"A {self.scope} key cannot do this ({action}) in the console.",
            code=Code.CONSOLE_NOT_ALLOWED,
            hint="Sign in with an admin key of the database, or as the operator.",
        )

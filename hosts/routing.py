"""Where the proxy sends a connection: to the instance holding the database it names, and only for
that database's own roles. A refusal is worded as Postgres itself would answer it."""

from __future__ import annotations

from .inventory import Inventory, Managed
from .registry import reader_role_name, role_name

# What the proxy answers while a database moves, or after it moved away: Postgres's "operator
# intervention", which the origin reads as "ask the control plane where the database is now".
MOVING_SQLSTATE = "57000"


class RouteError(Exception):
    """The proxy refuses a connection; `sqlstate` and `detail` go into the ErrorResponse."""

    def __init__(self, message: str, sqlstate: str, detail: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail = detail


def route(inventory: Inventory, database: str, user: str) -> Managed:
    """The instance a proxied connection to `database` as `user` goes to, or why it may not."""
    database_id = database.removeprefix("t_")
    record = inventory.databases.get(database_id) if database.startswith("t_") else None
    if record is None:
        forwarding = inventory.moved.get(database_id) if database.startswith("t_") else None
        if forwarding is not None and user in (role_name(database_id), reader_role_name(database_id)):
            raise RouteError(
                f'database "{database}" moved to another host',
                MOVING_SQLSTATE,
                f"Connect to {forwarding.proxy} (host {forwarding.host}) with the same user and password; "
                "`breakwater db show` prints the new DSN.",
            )
        raise RouteError(f'database "{database}" does not exist', "3D000")
    if user not in (record.role, record.reader):
        # What Postgres itself answers a role without CONNECT on the database.
        raise RouteError(
            f'permission denied for database "{database}"',
            "42501",
            f'Only the database\'s own roles connect to it; "{user}" is not one of them.',
        )
    if record.fenced:
        raise RouteError(
            f'database "{database}" is moving to another host', MOVING_SQLSTATE, "Retry in a few seconds."
        )
    managed = inventory.instances.get(record.instance)
    if managed is None or managed.state == "destroyed":
        raise RouteError(f'database "{database}" has no instance on this host', "3D000")
    return managed

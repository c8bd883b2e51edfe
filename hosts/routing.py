"""Where the proxy sends a connection: to the instance holding the database it names, and only for
that database's own roles. A refusal is worded as Postgres itself would answer it."""

from __future__ import annotations

from .inventory import Inventory, Managed


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
        raise RouteError(f'database "{database}" does not exist', "3D000")
    if user not in (record.role, record.reader):
        # What Postgres itself answers a role without CONNECT on the database.
        raise RouteError(
            f'permission denied for database "{database}"',
            "42501",
            f'Only the database\'s own roles connect to it; "{user}" is not one of them.',
        )
    managed = inventory.instances.get(record.instance)
    if managed is None or managed.state == "destroyed":
        raise RouteError(f'database "{database}" has no instance on this host', "3D000")
    return managed

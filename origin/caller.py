"""Who a request is for, as the edge vouched for it."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Forbidden


@dataclass(frozen=True)
class Caller:
    key_id: str
    workspace_id: str
    database_id: str
    database_name: str
    scope: str
    request_id: str

    def can_write(self) -> bool:
        return self.scope in ("read-write", "admin")

    def require_write(self, what: str) -> None:
        if not self.can_write():
            raise Forbidden(
                f"This API key is read-only and cannot {what}.",
                hint="Create a read-write key with `breakwater key create NAME`.",
            )

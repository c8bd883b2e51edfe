"""Who a request is for, as the edge vouched for it: the claims of the API key the edge verified, and
the request's id. The key's claims are the one shape identity takes from the edge's key check to the
pool (`bwcontract.keys.KeyClaims`)."""

from __future__ import annotations

from dataclasses import dataclass

from bwcontract.keys import KeyClaims

from .errors import Forbidden


@dataclass(frozen=True)
class Caller:
    key: KeyClaims
    request_id: str = ""

    @property
    def key_id(self) -> str:
        return self.key.key_id

    @property
    def database_id(self) -> str:
        return self.key.database_id

    def can_write(self) -> bool:
        return self.key.allows_writes()

    def require_write(self, what: str) -> None:
        if not self.can_write():
            raise Forbidden(
                f"This API key is read-only and cannot {what}.",
                hint="Create a read-write key with `breakwater key create NAME`.",
            )

"""Self-describing API keys: `bw1.<base64url claims>.<base64url HMAC-SHA256>`.

The edge verifies a key with the shared secret alone, so authentication needs no round trip to the
origin. Revocation is the one thing a signature cannot express; see `revocation.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from . import b64

PREFIX = "bw1"
SCOPES = ("read", "read-write", "admin")
MAX_KEY_LENGTH = 1024


class InvalidKey(Exception):
    """The key is missing, malformed, or not signed by us. `reason` is safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class KeyClaims:
    key_id: str
    workspace_id: str
    database_id: str
    database_name: str
    scope: str

    def as_dict(self) -> dict[str, str]:
        """The compact form carried in keys and in the edge's service claims."""
        return {
            "k": self.key_id,
            "w": self.workspace_id,
            "d": self.database_id,
            "n": self.database_name,
            "s": self.scope,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> KeyClaims:
        """Inverse of `as_dict`; raises ValueError/KeyError on anything incomplete."""
        return cls(
            key_id=_text(data["k"]),
            workspace_id=_text(data["w"]),
            database_id=_text(data["d"]),
            database_name=_text(data["n"]),
            scope=_text(data["s"]),
        )

    def allows_writes(self) -> bool:
        return self.scope in ("read-write", "admin")

    def is_admin(self) -> bool:
        return self.scope == "admin"


def _signature(secret: bytes, signed_part: str) -> bytes:
    return hmac.new(secret, signed_part.encode("ascii"), hashlib.sha256).digest()


def mint(claims: KeyClaims, secret: bytes) -> str:
    if claims.scope not in SCOPES:
        raise ValueError(f"unknown scope {claims.scope!r}")
    payload = json.dumps(claims.as_dict(), separators=(",", ":"), sort_keys=True).encode()
    signed_part = f"{PREFIX}.{b64.encode(payload)}"
    return f"{signed_part}.{b64.encode(_signature(secret, signed_part))}"


def verify(key: str, secrets: Sequence[bytes]) -> KeyClaims:
    """Return the claims of a key signed with any of `secrets` (several allow rotation)."""
    if not key:
        raise InvalidKey("no API key was sent")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey("the API key is too long")
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidKey("the API key is malformed")
    signed_part = f"{parts[0]}.{parts[1]}"
    try:
        signature = b64.decode(parts[2])
    except ValueError:
        raise InvalidKey("the API key is malformed") from None
    if not any(hmac.compare_digest(signature, _signature(s, signed_part)) for s in secrets):
        raise InvalidKey("the API key's signature does not match")
    try:
        claims = KeyClaims.from_dict(json.loads(b64.decode(parts[1])))
    except (ValueError, KeyError, TypeError):
        # Signed by us but unreadable: only a bug in mint() could produce this.
        raise InvalidKey("the API key is malformed") from None
    if claims.scope not in SCOPES:
        raise InvalidKey("the API key has an unknown scope")
    return claims


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def key_hash(key: str) -> bytes:
    """What the control plane stores instead of the key itself."""
    return hashlib.sha256(key.encode()).digest()


def key_from_request(authorization: str | None, query: dict[str, str]) -> str:
    """The key from `Authorization: Bearer …` (what Prisma sends) or `?api_key=`."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return query.get("api_key", "")

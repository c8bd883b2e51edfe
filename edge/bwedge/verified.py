"""API keys whose signature this isolate has already checked, so a repeated key costs a dict lookup
rather than an HMAC, two base64 decodes and a JSON parse (most of a cache hit's Python work under
Pyodide).

Only what a signature says is remembered: a key string maps to its claims, exactly as
`keys.verify` returned them for the same secrets (an app's secrets do not change while it lives).
Revocation is not a property of the signature and is still checked on every request
(`revocation.RevocationView`). Entries expire after `ttl` seconds and the map is bounded, so a
flood of distinct keys costs memory once, not forever; invalid keys are never remembered.
"""

from __future__ import annotations

from collections.abc import Sequence

from bwcontract import keys
from bwcontract.keys import KeyClaims

from .ports import Clock


class VerifiedKeys:
    def __init__(
        self, secrets: Sequence[bytes], clock: Clock, ttl: float = 300.0, max_entries: int = 10_000
    ) -> None:
        self._secrets = tuple(secrets)
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._known: dict[str, tuple[KeyClaims, float]] = {}

    def verify(self, key: str) -> KeyClaims:
        """`keys.verify(key, secrets)`, remembered; raises keys.InvalidKey as it does."""
        known = self._known.get(key)
        now = self._clock()
        if known is not None and known[1] > now:
            return known[0]
        claims = keys.verify(key, self._secrets)
        if len(self._known) >= self._max_entries:
            self._known.clear()
        self._known[key] = (claims, now + self._ttl)
        return claims

    def forget(self) -> None:
        self._known.clear()

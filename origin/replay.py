"""Each signed request is accepted once.

The edge signs every request for one origin process (`service.origin_audience`) with a fresh nonce,
and a signature is only valid for `service.MAX_SKEW_SECONDS` either side of now. So this process
only has to remember the nonces it accepted for that long: a nonce seen again is a replay (BW2010,
409). Another origin process never accepts the signature at all (its audience differs), which is
why memory per process is enough and no shared store is consulted on the request path.

A restart forgets what the process had accepted; signatures issued before the second the process
started are therefore refused (BW2011, 401: the edge should sign again). What stays open is a request
signed in the very second of a restart that the previous process had already run, and clock skew
between edge and origin widens that second by the skew.

Memory is bounded: nonces are kept in one set per signing second and dropped when that second
leaves the window; past `capacity` (a rate no single process serves) requests are refused rather than
remembered less (BW2012, 503).
"""

from __future__ import annotations

import math

from bwcontract import service
from bwcontract.codes import Code

from .errors import BreakwaterError


class Replayed(BreakwaterError):
    code = Code.REPLAYED


class SignedBeforeStart(BreakwaterError):
    code = Code.SIGNED_BEFORE_START


class ReplayMemoryFull(BreakwaterError):
    code = Code.REPLAY_GUARD_FULL


class ReplayGuard:
    def __init__(
        self, started: float, window: float = service.MAX_SKEW_SECONDS, capacity: int = 1_000_000
    ) -> None:
        self._first_second = math.floor(started)
        self._window = window
        self._capacity = capacity
        self._seen: dict[int, set[str]] = {}  # signing second -> nonces accepted
        self._size = 0
        self._swept_at = -math.inf

    def admit(self, issued: int, nonce: str, now: float) -> None:
        """Record a verified signature's nonce; raise if it was accepted before or cannot be judged."""
        if issued < self._first_second:
            raise SignedBeforeStart(
                "The service signature is older than this origin process, which cannot tell whether "
                "it already ran the request.",
                hint="The edge signs the request again.",
            )
        self._sweep(now)
        nonces = self._seen.get(issued)
        if nonces is not None and nonce in nonces:
            raise Replayed(
                "This signed request was already accepted once; a signed request runs at most once.",
                hint="Send the request through the edge again: it signs each request anew.",
            )
        if self._size >= self._capacity:
            raise ReplayMemoryFull(
                "The origin is remembering more signed requests than it is built for; try again shortly."
            )
        if nonces is None:
            nonces = self._seen[issued] = set()
        nonces.add(nonce)
        self._size += 1

    def _sweep(self, now: float) -> None:
        """Forget the seconds whose signatures have expired (at most once a second)."""
        if now - self._swept_at < 1:
            return
        self._swept_at = now
        oldest = now - self._window - 1
        for second in [s for s in self._seen if s < oldest]:
            self._size -= len(self._seen.pop(second))

    def __len__(self) -> int:
        return self._size

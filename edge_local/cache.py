"""The Workers Cache API (`caches.default`) on the host: GET-keyed responses in memory that expire
by their own `cache-control` (`s-maxage` before `max-age`, as Cloudflare does), bounded in bytes.

Like Cloudflare's cache it may drop anything at any time (here: the least recently used entries once
`max_bytes` is reached); callers treat an absent entry as a miss.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass

from bwedge.http import EdgeResponse, Headers
from bwedge.ports import Clock

_DIRECTIVE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_UNCACHEABLE = re.compile(r"(?:^|,)\s*(no-store|private)\s*(?:,|$)", re.IGNORECASE)


@dataclass
class _Stored:
    response: EdgeResponse
    expires: float
    size: int


class LocalCacheStorage:
    def __init__(self, clock: Clock = time.time, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._clock = clock
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, _Stored] = OrderedDict()
        self._bytes = 0

    async def match(self, url: str) -> EdgeResponse | None:
        stored = self._entries.get(url)
        if stored is None:
            return None
        if stored.expires <= self._clock():
            self._drop(url)
            return None
        self._entries.move_to_end(url)
        response = stored.response
        return EdgeResponse(response.status, response.headers.copy(), response.body)

    async def put(self, url: str, response: EdgeResponse) -> None:
        if response.status == 206 or (response.headers.get("vary") or "").strip() == "*":
            raise ValueError("the Cache API refuses partial responses and Vary: *")
        lifetime = _lifetime(response.headers)
        self._drop(url)
        if lifetime <= 0:
            return
        size = len(response.body) + sum(len(n) + len(v) for n, v in response.headers.items())
        if size > self._max_bytes:
            return
        copy = EdgeResponse(response.status, response.headers.copy(), response.body)
        self._entries[url] = _Stored(copy, self._clock() + lifetime, size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    async def delete(self, url: str) -> bool:
        return self._drop(url)

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, url: str) -> bool:
        stored = self._entries.pop(url, None)
        if stored is None:
            return False
        self._bytes -= stored.size
        return True


def _lifetime(headers: Headers) -> float:
    value = headers.get("cache-control") or ""
    if _UNCACHEABLE.search(value):
        return 0
    found = {name.lower(): int(seconds) for name, seconds in _DIRECTIVE.findall(value)}
    return float(found.get("s-maxage", found.get("max-age", 0)))

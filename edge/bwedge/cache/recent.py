"""Entries this isolate stored or found lately, kept decoded and ready to send, in front of the Cache
API: a repeated hit costs a dict lookup instead of a Cache API match, its conversion from a runtime
Response and the parse of the entry's metadata.

Nothing here decides whether an entry may be served. An entry is found under its synthetic URL, which
folds in the database and the tag versions as the Cache API's key does (key.py); its model versions
are still checked on every hit (layer.py); and it is kept no longer than the Cache API keeps it (its
`max-age`, counted from when it was produced, which is before it was stored). The Cache API may drop
an entry sooner; serving it from here is serving what the Cache API could have served. Bounded in
bytes: a flood of distinct entries pushes the oldest out.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..http import EdgeResponse
from . import entry

# Entries larger than this are served from the Cache API only: memory here is the isolate's (128 MB).
MAX_ENTRY_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Ready:
    entry: entry.CacheEntry
    last_modified: str  # entry.http_date(produced_at), formatted once
    expires: float  # when the Cache API drops it, at the latest
    size: int


class RecentEntries:
    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: dict[str, Ready] = {}

    def get(self, url: str, now: float) -> Ready | None:
        found = self._entries.get(url)
        if found is not None and found.expires <= now:
            self.drop(url)
            return None
        return found

    def keep(self, url: str, stored: EdgeResponse) -> Ready | None:
        """Decode what the Cache API holds (or was just given) under `url`, and keep it if it is small
        enough; None when it is not one of ours."""
        found = entry.decode(stored)
        if found is None:
            return None
        size = len(found.body) + sum(len(n) + len(v) for n, v in found.headers.items()) + len(url)
        ready = Ready(found, entry.http_date(found.produced_at), found.produced_at + _max_age(stored), size)
        if size > MAX_ENTRY_BYTES or size > self._max_bytes or ready.expires <= found.produced_at:
            return ready
        self.drop(url)
        while self._entries and self._bytes + size > self._max_bytes:
            self.drop(next(iter(self._entries)))  # the oldest kept
        self._entries[url] = ready
        self._bytes += size
        return ready

    def drop(self, url: str) -> None:
        gone = self._entries.pop(url, None)
        if gone is not None:
            self._bytes -= gone.size

    def __len__(self) -> int:
        return len(self._entries)


def _max_age(stored: EdgeResponse) -> float:
    """The lifetime `entry.encode` gave it (`cache-control: max-age=N`); 0 when it cannot be read."""
    directive = (stored.headers.get("cache-control") or "").partition("max-age=")[2]
    digits = directive.partition(",")[0].strip()
    return float(digits) if digits.isdigit() else 0.0

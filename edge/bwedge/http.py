"""Plain request/response values that cross the edge's boundary in both runtimes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit


class Headers:
    """Case-insensitive header map keeping the last value per name (enough for this protocol)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        if items is None:
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self[name] = value

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, value)

    def __delitem__(self, name: str) -> None:
        self._items.pop(name.lower(), None)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def get(self, name: str, default: str | None = None) -> str | None:
        item = self._items.get(name.lower())
        return item[1] if item else default

    @classmethod
    def decoded(cls, pairs: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Headers from the latin-1 pairs an HTTP server hands over, names in lower case already (ASGI's):
        decoded in one pass, without lowering each name."""
        headers = cls()
        headers._items = {(name := n.decode("latin-1")): (name, v.decode("latin-1")) for n, v in pairs}
        return headers

    def items(self) -> list[tuple[str, str]]:
        return list(self._items.values())

    def lower_items(self) -> list[tuple[str, str]]:
        """(lower-case name, value) pairs, as HTTP/2 and ASGI want them."""
        return [(name, item[1]) for name, item in self._items.items()]

    def with_lowered(self, pairs: Iterable[tuple[str, str]]) -> Headers:
        """A copy with these pairs set, their names in lower case already."""
        copied = self.copy()
        for name, value in pairs:
            copied._items[name] = (name, value)
        return copied

    def encoded(self) -> list[tuple[bytes, bytes]]:
        """`lower_items` in latin-1 bytes, as an HTTP server takes them (ASGI's)."""
        return [(name.encode("latin-1"), item[1].encode("latin-1")) for name, item in self._items.items()]

    def copy(self) -> Headers:
        copied = Headers()
        copied._items = self._items.copy()  # already lower-cased: no need to go through __setitem__
        return copied

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


@dataclass
class EdgeRequest:
    method: str
    url: str
    headers: Headers
    body: bytes = b""
    # The edge's own refresh of a cached answer (stale-while-revalidate), not a client's request:
    # the origin is told, in the signed claims, not to count it.
    background: bool = False

    # Parsed once per request: the pipeline reads the path, the query and the host several times.
    @cached_property
    def parts(self) -> SplitResult:
        return urlsplit(self.url)

    @property
    def path(self) -> str:
        return self.parts.path or "/"

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (a new dict each time: callers may change theirs)."""
        if not self.parts.query:
            return {}
        return dict(parse_qsl(self.parts.query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class EdgeResponse:
    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    native: Any = None  # a runtime's own response (a WebSocket upgrade), returned as it is

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> EdgeResponse:
        h = Headers({"content-type": "application/json"})
        for name, value in (headers or {}).items():
            h[name] = value
        return cls(status, h, json.dumps(payload, separators=(",", ":")).encode())

    @classmethod
    def text(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> EdgeResponse:
        h = Headers({"content-type": "text/plain; charset=utf-8"})
        for name, value in (headers or {}).items():
            h[name] = value
        return cls(status, h, text.encode())

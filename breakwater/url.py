"""Connection URLs: `prisma+postgres://HOST:PORT/?api_key=KEY`, read the way Prisma reads them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit


class InvalidUrl(ValueError):
    pass


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # http(s)://host:port
    api_key: str


def parse_url(url: str) -> Endpoint:
    """http for `prisma+postgres://` URLs on localhost, https otherwise (as the Prisma client does)."""
    parts = urlsplit(url)
    if parts.scheme not in ("prisma", "prisma+postgres"):
        raise InvalidUrl("the URL must start with prisma+postgres:// (or prisma://)")
    api_key = (parse_qs(parts.query).get("api_key") or [""])[0]
    if not api_key:
        raise InvalidUrl("the URL has no api_key query parameter")
    local = any(h in parts.netloc for h in ("localhost", "127.0.0.1", "[::1]"))
    scheme = "http" if parts.scheme == "prisma+postgres" and local else "https"
    return Endpoint(f"{scheme}://{parts.netloc}", api_key)

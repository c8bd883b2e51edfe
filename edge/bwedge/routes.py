"""Which protocol a request speaks, decided from its method and path alone.

Prisma 6 (Data Proxy, JSON protocol) paths start with `/{clientVersion}/{schemaHash}/`; Prisma 7
(query plans) uses fixed paths; `/v1/...` is Breakwater's own API for our Python client and curl.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    # health | query | schema | tx_start | tx_op | invalidate | connection_info | stream | usage | console
    # | internal (and the origin's signed pushes: invalidate_push, events_push, events_part, limits_push,
    # usage_flush)
    kind: str
    protocol: str  # prisma6 | prisma7 | v1 | console | edge
    tx_id: str | None = None
    tx_op: str | None = None  # query | graphql | commit | rollback


_VERSION = r"[0-9A-Za-z.+-]{1,64}"
_HASH = r"[0-9A-Za-z_-]{1,128}"
_TXID = r"[0-9A-Za-z~_.-]{1,128}"
# The console's pages, forms and files: `/console`, `/console/databases/shop`, `/console/static/x.css`.
# No segment is `.` or `..`: what the edge matched is what the origin routes.
_CONSOLE = r"/console(?:/(?!\.\.?(?:/|$))[0-9A-Za-z_.~-]{1,128}){0,6}/?"

_TABLE: list[tuple[str, re.Pattern[str], Route | None]] = [
    ("GET", re.compile(r"/_bw/health"), Route("health", "edge")),
    ("POST", re.compile(r"/_bw/revocations"), Route("internal", "edge")),
    ("POST", re.compile(r"/_bw/invalidate"), Route("invalidate_push", "edge")),
    ("POST", re.compile(r"/_bw/limits"), Route("limits_push", "edge")),
    ("POST", re.compile(r"/_bw/usage/flush"), Route("usage_flush", "edge")),
    ("POST", re.compile(r"/_bw/events/[a-z0-9]{1,40}"), Route("events_push", "edge")),
    (
        "POST",
        re.compile(r"/_bw/events/[a-z0-9]{1,40}/parts/[0-9A-F]{16}-[0-9A-F]{8}/[0-9]{1,5}/[0-9]{1,5}"),
        Route("events_part", "edge"),
    ),
    ("GET", re.compile(r"/_bw/events/[a-z0-9]{1,40}/figures"), Route("events_figures", "edge")),
    # The console: a web page for browsers, which hold no API key (see console.py).
    ("GET", re.compile(_CONSOLE), Route("console", "console")),
    ("POST", re.compile(_CONSOLE), Route("console", "console")),
    # Prisma 6 and 7 both send `$accelerate.invalidate` here.
    ("POST", re.compile(r"/invalidate"), Route("invalidate", "prisma7")),
    ("POST", re.compile(r"/v1/invalidate"), Route("invalidate", "v1")),
    ("GET", re.compile(r"/v1/stream"), Route("stream", "v1")),
    ("GET", re.compile(r"/v1/usage"), Route("usage", "v1")),
    ("GET", re.compile(r"/v1/insights"), Route("insights", "v1")),
    ("GET", re.compile(r"/connection-info"), Route("connection_info", "prisma7")),
    ("POST", re.compile(r"/query"), Route("query", "prisma7")),
    ("POST", re.compile(r"/transaction/start"), Route("tx_start", "prisma7")),
    ("POST", re.compile(rf"/transaction/(?P<tx>{_TXID})/(?P<op>query|commit|rollback)"), None),
    ("POST", re.compile(r"/v1/query"), Route("query", "v1")),
    ("GET", re.compile(r"/v1/schema"), Route("query", "v1")),
    ("POST", re.compile(r"/v1/transaction/start"), Route("tx_start", "v1")),
    ("POST", re.compile(rf"/v1/transaction/(?P<tx>{_TXID})/(?P<op>query|commit|rollback)"), None),
    ("POST", re.compile(rf"/{_VERSION}/{_HASH}/graphql"), Route("query", "prisma6")),
    ("PUT", re.compile(rf"/{_VERSION}/{_HASH}/schema"), Route("schema", "prisma6")),
    ("POST", re.compile(rf"/{_VERSION}/{_HASH}/transaction/start"), Route("tx_start", "prisma6")),
    ("POST", re.compile(rf"/{_VERSION}/{_HASH}/itx/(?P<tx>{_TXID})/(?P<op>graphql|commit|rollback)"), None),
]


def _exact_routes() -> dict[tuple[str, str], Route]:
    """The table's fixed paths, looked up in one step: a path that is a literal pattern's text and that
    no earlier entry of its method matches (the table's first match wins, and still does)."""
    exact: dict[tuple[str, str], Route] = {}
    for index, (method, pattern, route) in enumerate(_TABLE):
        literal = pattern.pattern.replace("\\", "")
        if route is None or re.escape(literal) != pattern.pattern:
            continue
        earlier = _TABLE[:index]
        if not any(m == method and p.fullmatch(literal) for m, p, _ in earlier):
            exact.setdefault((method, literal), route)
    return exact


def classify(method: str, path: str) -> Route | None:
    exact = _EXACT.get((method, path))
    if exact is not None:
        return exact
    for want_method, pattern, route in _TABLE:
        if method != want_method:
            continue
        match = pattern.fullmatch(path)
        if not match:
            continue
        if route is not None:
            return route
        protocol = "v1" if path.startswith("/v1/") else "prisma6" if "/itx/" in path else "prisma7"
        return Route("tx_op", protocol, tx_id=match["tx"], tx_op=match["op"])
    return None


_EXACT = _exact_routes()

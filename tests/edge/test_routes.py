from __future__ import annotations

import pytest

from bwedge import routes
from bwedge.routes import Route, classify

HASH = "a98a5835bb4906afd668e03bca0438e0926d4b1e8c7553f5d5a3e0bac90c3c06"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/connection-info", Route("connection_info", "prisma7")),
        ("POST", "/query", Route("query", "prisma7")),
        ("POST", "/transaction/start", Route("tx_start", "prisma7")),
        ("POST", "/transaction/o1~abc/commit", Route("tx_op", "prisma7", "o1~abc", "commit")),
        ("POST", f"/6.19.3/{HASH}/graphql", Route("query", "prisma6")),
        ("PUT", f"/6.19.3/{HASH}/schema", Route("schema", "prisma6")),
        ("POST", f"/6.19.3/{HASH}/transaction/start", Route("tx_start", "prisma6")),
        ("POST", f"/6.19.3/{HASH}/itx/o1~abc/graphql", Route("tx_op", "prisma6", "o1~abc", "graphql")),
        ("POST", "/v1/query", Route("query", "v1")),
        ("GET", "/_bw/health", Route("health", "edge")),
        ("POST", "/invalidate", Route("invalidate", "prisma7")),
        ("POST", "/v1/invalidate", Route("invalidate", "v1")),
        ("POST", "/_bw/invalidate", Route("invalidate_push", "edge")),
    ],
)
def test_requests_are_classified_by_method_and_path(method: str, path: str, expected: Route) -> None:
    assert classify(method, path) == expected


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/query"), ("POST", "/nope"), ("POST", "/query/extra"), ("DELETE", "/v1/query"), ("POST", "/")],
)
def test_anything_else_is_not_a_route(method: str, path: str) -> None:
    assert classify(method, path) is None


def test_fixed_paths_looked_up_in_one_step_route_as_the_table_does() -> None:
    assert routes._EXACT  # the hit path's routes are among them
    assert routes._EXACT[("POST", "/v1/query")] == Route("query", "v1")
    for (method, path), route in routes._EXACT.items():
        first = next((r for m, pattern, r in routes._TABLE if m == method and pattern.fullmatch(path)), None)
        assert first == route, (method, path)

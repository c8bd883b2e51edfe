"""Routing by memory: which route serves a method and path is the router's choice, made once.

Starlette's router tries its routes in order, matching each pattern against the path, on every
request; the origin has ~80 routes and its busiest (`/v1/query`, Prisma 7's `/query`, Prisma 6's
`/{version}/{hash}/graphql`) come late, so finding them cost more than the rest of the HTTP work. For
an HTTP request the router's choice depends only on the method and the path (no route here looks at
the host or headers to match), so `RouteMemo` asks the router once per method and path and
remembers a full match on a plain `Route`; anything else (a partial match: 405; no match: 404 or a
redirect; a mount) goes to the router every time, as before.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Match, Route, Router
from starlette.types import Receive, Scope, Send

# Paths with ids in them (a transaction's) come and go: past this many, start remembering afresh.
MAX_REMEMBERED = 4096


class RouteMemo:
    def __init__(self, router: Router) -> None:
        self.router = router
        self._chosen: dict[tuple[str, str], tuple[Route, dict[str, Any]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await self.router(scope, receive, send)
            return
        key = (scope["method"], scope["path"])
        chosen = self._chosen.get(key)
        if chosen is None:
            chosen = self._choose(scope)
            if chosen is None:
                await self.router(scope, receive, send)
                return
            if len(self._chosen) >= MAX_REMEMBERED:
                self._chosen.clear()
            self._chosen[key] = chosen
        route, path_params = chosen
        # What the router puts in the scope for the route it picked.
        scope["router"] = self.router
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(path_params)
        await route.handle(scope, receive, send)

    def _choose(self, scope: Scope) -> tuple[Route, dict[str, Any]] | None:
        """The router's own choice for this scope, when it is a full match on a plain route."""
        for route in self.router.routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                if isinstance(route, Route) and set(child_scope) == {"endpoint", "path_params"}:
                    return route, child_scope["path_params"]
                return None
        return None

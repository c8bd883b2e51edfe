"""The edge's event routes: consumers' `GET /v1/stream` and the origin's `POST /_bw/events/{database}`.

A stream request is authenticated like any other (a key of database A reaches only A's queue, the
Durable Object named by the key's own database id), its parameters are checked here, the origin checks
the models and filter fields against the schema and makes sure capture is on (so every change
committed after the stream opens is delivered), and the database's `EventQueue` takes the socket.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from bwcontract.codes import Code
from bwcontract.keys import KeyClaims
from bwcontract.service import ServiceClaims

from . import subscription
from .app import EdgeApp
from .errors import EdgeError
from .eventlog import InvalidBatch
from .http import EdgeRequest, EdgeResponse, Headers
from .ports import Context, QueuesPort
from .routes import Route

PREPARE_PATH = "/v1/stream/prepare"


class EventRoutes:
    def __init__(self, app: EdgeApp, queues: QueuesPort) -> None:
        self.app = app
        self.queues = queues

    def install(self) -> EventRoutes:
        self.app.handlers["stream"] = self.stream
        self.app.internal_handlers["events_push"] = self.push
        self.app.internal_handlers["events_part"] = self.push_part
        self.app.revocation_listeners.append(self.revoked)
        return self

    async def revoked(self, key_databases: dict[str, str], database_ids: list[str]) -> None:
        """Keys were revoked (`key_databases`: key id -> its database) or databases deleted: their
        open streams end now, not when the consumer next reconnects."""
        by_database: dict[str, list[str]] = {}
        for key_id, database_id in key_databases.items():
            by_database.setdefault(database_id, []).append(key_id)
        for database_id, key_ids in by_database.items():
            await self.queues.revoke(database_id, key_ids, everything=False)
        for database_id in database_ids:
            await self.queues.revoke(database_id, [], everything=True)

    async def stream(
        self, request: EdgeRequest, route: Route, claims: KeyClaims, ctx: Context
    ) -> EdgeResponse:
        """Open a WebSocket stream of the key's database's change events."""
        if (request.headers.get("upgrade") or "").lower() != "websocket":
            raise EdgeError(
                Code.WEBSOCKET_REQUIRED,
                "GET /v1/stream is a WebSocket endpoint.",
                "Connect with a WebSocket client (the Python client's `db.<model>.stream()` does).",
            )
        try:
            wanted = subscription.parse(request.query)
        except subscription.InvalidSubscription as exc:
            raise EdgeError(
                Code.STREAM_PARAMETER, f"Invalid stream parameter `{exc.parameter}`: {exc}"
            ) from None
        parts = urlsplit(request.url)
        body = json.dumps({"models": list(wanted.models), "where": wanted.where}).encode()
        headers = Headers({"content-type": "application/json"})
        if request.headers.get("x-request-id"):
            headers["x-request-id"] = request.headers["x-request-id"] or ""
        prepare = EdgeRequest("POST", f"{parts.scheme}://{parts.netloc}{PREPARE_PATH}", headers, body)
        prepared = await self.app.forward(prepare, route, claims, ctx)
        if prepared.status != 200:
            return prepared  # the origin's own error (unknown model or field, capture unavailable)
        native = await self.queues.connect(claims.database_id, wanted.to_json(), claims.key_id, request)
        return EdgeResponse(101, native=native)

    async def push(self, request: EdgeRequest, claims: ServiceClaims) -> EdgeResponse:
        """Store a batch from the origin's capture reader; answers only once it is stored."""
        database_id = request.path.rsplit("/", 1)[-1]
        if claims.values.get("d") != database_id:
            raise EdgeError(Code.UNSIGNED, "the signed database does not match the path")
        try:
            result = await self.queues.append(database_id, request.body.decode())
        except (InvalidBatch, UnicodeDecodeError) as exc:
            raise EdgeError(Code.EVENT_BATCH, f"Invalid event batch: {exc}") from None
        if result.get("stored"):
            for listener in self.app.change_listeners:
                await listener(database_id, list(result.get("models", [])))
        return EdgeResponse.json(200, result)

    async def push_part(self, request: EdgeRequest, claims: ServiceClaims) -> EdgeResponse:
        """One part of an event too large for one push: `/_bw/events/{database}/parts/{offset}/{i}/{n}`,
        the body the part's text. The batch naming the event follows once every part is stored."""
        _, _, database_id, _, offset, index, count = request.path.strip("/").split("/")
        if claims.values.get("d") != database_id:
            raise EdgeError(Code.UNSIGNED, "the signed database does not match the path")
        try:
            result = await self.queues.append_part(
                database_id, offset, int(index), int(count), request.body.decode()
            )
        except (InvalidBatch, UnicodeDecodeError) as exc:
            raise EdgeError(Code.EVENT_BATCH, f"Invalid event part: {exc}") from None
        return EdgeResponse.json(200, result)

"""The Python client: the same URL as Prisma, model queries over the JSON protocol (`/v1`).

    db = Client("prisma+postgres://127.0.0.1:8787/?api_key=…")
    posts = await db.post.find_many(where={"published": True}, include={"author": True}, take=10)
    await db.user.update(where={"id": 1}, data={"name": "Ada"})
    async with db.transaction() as tx:          # interactive: commit on exit, rollback on error
        await tx.user.create(data={"email": "a@b.c"})
    await db.tx(db.user.create(data=…), db.post.count())   # a batch in one transaction
    rows = await db.query_raw('SELECT * FROM "User" WHERE id > $1', 10)

Values go out tagged (datetime, Decimal, bytes, `Json(...)`) and come back as Python values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bwcontract.codes import Code

from .models import ModelAccessors, Operation
from .stream import EventStream
from .url import parse_url
from .values import decode


class QueryError(Exception):
    def __init__(self, status: int, code: str, message: str, meta: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.meta = meta or {}


class Client(ModelAccessors):
    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        endpoint = parse_url(url)
        self._http = httpx.AsyncClient(
            base_url=endpoint.base_url,
            headers={"authorization": f"Bearer {endpoint.api_key}"},
            timeout=timeout,
        )
        self._names = None

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Learn the database's model names (`db.user` → model `User`, `db.users` → table `users`)."""
        await self.model_names()

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        response = await self._http.request(method, path, json=body, headers=headers)
        try:
            payload = response.json()
        except ValueError:
            raise QueryError(response.status_code, Code.UNEXPECTED, response.text[:200]) from None
        if response.status_code >= 400:
            raise QueryError(
                response.status_code,
                payload.get("code", Code.UNEXPECTED),
                payload.get("message", ""),
                payload.get("meta"),
            )
        return payload

    async def _post_query(self, body: dict[str, Any]) -> Any:
        if self._names is None:
            await self.model_names()
            if "modelName" in body:
                body["modelName"] = self._model_name(body["modelName"])
        return await self.request("POST", "/v1/query", body)

    async def query(
        self,
        model: str | None,
        action: str,
        arguments: dict[str, Any] | None = None,
        selection: dict[str, Any] | None = None,
    ) -> Any:
        """One JSON-protocol query, as sent on the wire; the result's `data`, decoded."""
        body = {
            "modelName": model,
            "action": action,
            "query": {"arguments": arguments or {}, "selection": selection or {"$scalars": True}},
        }
        payload = await self.request("POST", "/v1/query", body)
        return decode(payload["data"])

    def _stream(self, accessor: str, **options: Any) -> EventStream:
        async def model() -> str:
            return (await self.model_names()).get(accessor, accessor)

        return EventStream(str(self._http.base_url), self._http.headers["authorization"], model, **options)

    async def model_names(self) -> dict[str, str]:
        """Accessor name → model name (`user` → `User`, `users` → `users`)."""
        if self._names is None:
            schema = await self.request("GET", "/v1/schema")
            names: dict[str, str] = {}
            for name in schema["models"]:
                names[name] = name
                names.setdefault(name[:1].lower() + name[1:], name)
            self._names = names
        return self._names

    async def tx(self, *operations: Operation, isolation_level: str | None = None) -> list[Any]:
        """Run operations as one batch in one transaction: all succeed or none does."""
        await self.model_names()
        bodies = []
        for op in operations:
            body = dict(op.body)
            if isinstance(body.get("modelName"), str):
                body["modelName"] = self._model_name(body["modelName"])
            bodies.append(body)
        transaction: dict[str, Any] = {"isolationLevel": isolation_level} if isolation_level else {}
        payload = await self.request("POST", "/v1/query", {"batch": bodies, "transaction": transaction})
        results = []
        for op, item in zip(operations, payload["batchResult"], strict=True):
            if "errors" in item:
                error = item["errors"][0]
                raise QueryError(
                    400, error.get("code", Code.UNEXPECTED), error.get("message", ""), error.get("meta")
                )
            results.append(op.unwrap(decode(item["data"])))
        return results

    def transaction(
        self, *, max_wait: int = 2000, timeout: int = 5000, isolation_level: str | None = None
    ) -> Transaction:
        """`async with db.transaction() as tx:` an interactive transaction; it commits unless the block
        raises."""
        return Transaction(self, max_wait, timeout, isolation_level)

    async def run_in_transaction(self, work: Callable[[Transaction], Awaitable[Any]], **options: Any) -> Any:
        async with self.transaction(**options) as tx:
            return await work(tx)


class Transaction(ModelAccessors):
    def __init__(self, client: Client, max_wait: int, timeout: int, isolation_level: str | None) -> None:
        self._client = client
        self._names = client._names
        self._options: dict[str, Any] = {"maxWait": max_wait, "timeout": timeout}
        if isolation_level:
            self._options["isolationLevel"] = isolation_level
        self.id = ""

    async def __aenter__(self) -> Transaction:
        await self._client.model_names()
        self._names = self._client._names
        self.id = (await self._client.request("POST", "/v1/transaction/start", self._options))["id"]
        return self

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        action = "rollback" if exc_type is not None else "commit"
        await self._client.request("POST", f"/v1/transaction/{self.id}/{action}")

    async def _post_query(self, body: dict[str, Any]) -> Any:
        if "modelName" in body:
            body["modelName"] = self._model_name(body["modelName"])
        return await self._client.request("POST", f"/v1/transaction/{self.id}/query", body)

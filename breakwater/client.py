"""The Python client: the same URL as Prisma, model queries over the JSON protocol.

db = Client("prisma+postgres://127.0.0.1:8787/?api_key=…")
users = await db.users.find_many(where={"email": "a@b.c"})
"""

from __future__ import annotations

from typing import Any

import httpx

from .stream import EventStream
from .url import parse_url


class QueryError(Exception):
    def __init__(self, status: int, code: str, message: str, meta: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.meta = meta or {}


class Client:
    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        endpoint = parse_url(url)
        self._http = httpx.AsyncClient(
            base_url=endpoint.base_url,
            headers={"authorization": f"Bearer {endpoint.api_key}"},
            timeout=timeout,
        )
        self._models: dict[str, str] | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        response = await self._http.request(method, path, json=body, headers=headers)
        try:
            payload = response.json()
        except ValueError:
            raise QueryError(response.status_code, "P6000", response.text[:200]) from None
        if response.status_code >= 400:
            raise QueryError(
                response.status_code,
                payload.get("code", "P6000"),
                payload.get("message", ""),
                payload.get("meta"),
            )
        return payload

    async def query(
        self,
        model: str | None,
        action: str,
        arguments: dict[str, Any] | None = None,
        selection: dict[str, Any] | None = None,
    ) -> Any:
        body = {
            "modelName": model,
            "action": action,
            "query": {"arguments": arguments or {}, "selection": selection or {"$scalars": True}},
        }
        payload = await self.request("POST", "/v1/query", body)
        return payload["data"]

    async def model_names(self) -> dict[str, str]:
        """Accessor name → model name (`users` → `users`, `User` → `user`)."""
        if self._models is None:
            schema = await self.request("GET", "/v1/schema")
            self._models = {name[:1].lower() + name[1:]: name for name in schema["models"]}
        return self._models

    def __getattr__(self, name: str) -> ModelClient:
        if name.startswith("_"):
            raise AttributeError(name)
        return ModelClient(self, name)


class ModelClient:
    def __init__(self, client: Client, accessor: str) -> None:
        self._client = client
        self._accessor = accessor

    async def _model(self) -> str:
        names = await self._client.model_names()
        return names.get(self._accessor, self._accessor)

    async def _run(self, action: str, arguments: dict[str, Any], select: dict[str, bool] | None) -> Any:
        selection: dict[str, Any] = dict(select) if select else {"$scalars": True}
        return await self._client.query(await self._model(), action, arguments, selection)

    async def find_many(
        self,
        *,
        where: dict[str, Any] | None = None,
        take: int | None = None,
        skip: int | None = None,
        order_by: Any = None,
        select: dict[str, bool] | None = None,
    ) -> list[dict[str, Any]]:
        args: dict[str, Any] = {
            k: v
            for k, v in {"where": where, "take": take, "skip": skip, "orderBy": order_by}.items()
            if v is not None
        }
        result: list[dict[str, Any]] = await self._run("findMany", args, select)
        return result

    async def find_first(
        self,
        *,
        where: dict[str, Any] | None = None,
        order_by: Any = None,
        select: dict[str, bool] | None = None,
    ) -> dict[str, Any] | None:
        args = {k: v for k, v in {"where": where, "orderBy": order_by}.items() if v is not None}
        result: dict[str, Any] | None = await self._run("findFirst", args, select)
        return result

    async def find_unique(
        self, *, where: dict[str, Any], select: dict[str, bool] | None = None
    ) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._run("findUnique", {"where": where}, select)
        return result

    def stream(self, **options: Any) -> EventStream:
        """Change events of this model: `async with db.user.stream(name=...) as events` (see stream.py)."""
        return EventStream(self._client, self._accessor, **options)

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

import base64
import datetime as dt
import decimal
import json
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import httpx

from .stream import EventStream
from .url import parse_url

_READ_ARGS = ("where", "orderBy", "take", "skip", "cursor", "distinct")
_SNAKE = {"order_by": "orderBy", "skip_duplicates": "skipDuplicates"}


class QueryError(Exception):
    def __init__(self, status: int, code: str, message: str, meta: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.meta = meta or {}


class Json:
    """A value for a Json field (so a dict is not mistaken for a nested write or a filter)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def encode(value: Any) -> Any:
    """Python values → JSON-protocol values."""
    if isinstance(value, Json):
        return {"$type": "Json", "value": json.dumps(value.value)}
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return {"$type": "DateTime", "value": moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")}
    if isinstance(value, dt.date):
        return {"$type": "DateTime", "value": f"{value.isoformat()}T00:00:00.000Z"}
    if isinstance(value, decimal.Decimal):
        return {"$type": "Decimal", "value": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"$type": "Bytes", "value": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """JSON-protocol results → Python values (tagged values become datetime, int, Decimal, bytes, ...)."""
    if isinstance(value, dict):
        if len(value) == 2 and "$type" in value and "value" in value:
            tag, inner = value["$type"], value["value"]
            if tag == "DateTime":
                return dt.datetime.fromisoformat(inner.replace("Z", "+00:00"))
            if tag == "BigInt":
                return int(inner)
            if tag == "Decimal":
                return decimal.Decimal(inner)
            if tag == "Bytes":
                return base64.b64decode(inner)
            if tag == "Json":
                return json.loads(inner)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def selection(select: dict[str, Any] | None = None, include: dict[str, Any] | None = None) -> dict[str, Any]:
    """Prisma's `select` / `include` arguments → a JSON-protocol selection."""
    if select is not None and include is not None:
        raise ValueError("use either select or include, not both")
    out: dict[str, Any] = {} if select is not None else {"$scalars": True, "$composites": True}
    for name, spec in (select or include or {}).items():
        if isinstance(spec, dict) and name != "_count":
            out[name] = _nested(spec)
        elif name == "_count" and isinstance(spec, dict):
            inner = spec.get("select", spec)
            out[name] = {
                "arguments": {},
                "selection": {k: (_nested(v) if isinstance(v, dict) else v) for k, v in inner.items()},
            }
        else:
            out[name] = spec
    return out


def _nested(spec: dict[str, Any]) -> dict[str, Any]:
    args = {_SNAKE.get(k, k): encode(v) for k, v in spec.items() if _SNAKE.get(k, k) in _READ_ARGS}
    return {"arguments": args, "selection": selection(spec.get("select"), spec.get("include"))}


class Operation:
    """One query, awaitable on its own or passed to `Client.tx(...)` as part of a batch."""

    def __init__(
        self,
        client: _Models,
        model: str | None,
        action: str,
        arguments: dict[str, Any],
        sel: dict[str, Any],
        unwrap: Callable[[Any], Any] | None = None,
    ) -> None:
        self.client = client
        self.body: dict[str, Any] = {
            "modelName": model,
            "action": action,
            "query": {"arguments": arguments, "selection": sel},
        }
        self.unwrap = unwrap or (lambda v: v)
        if model is None:
            del self.body["modelName"]

    async def run(self) -> Any:
        payload = await self.client._post_query(self.body)
        return self.unwrap(decode(payload["data"]))

    def __await__(self) -> Generator[Any, None, Any]:
        return self.run().__await__()


class ModelClient:
    """`db.<model>`: Prisma's model operations with snake_case names."""

    def __init__(self, client: _Models, accessor: str) -> None:
        self._client = client
        self._accessor = accessor

    @property
    def name(self) -> str:
        return self._client._model_name(self._accessor)

    def stream(self, **options: Any) -> EventStream:
        """Change events of this model: `async with db.user.stream(name=...) as events` (see stream.py)."""
        if not isinstance(self._client, Client):
            raise TypeError("Open streams on the client (db.<model>.stream), not inside a transaction.")
        return EventStream(self._client, self._accessor, **options)

    def _op(
        self,
        action: str,
        args: dict[str, Any],
        select: Any = None,
        include: Any = None,
        unwrap: Callable[[Any], Any] | None = None,
        sel: dict[str, Any] | None = None,
    ) -> Operation:
        arguments = {_SNAKE.get(k, k): encode(v) for k, v in args.items() if v is not None}
        return Operation(
            self._client, self.name, action, arguments, sel or selection(select, include), unwrap
        )

    def find_many(
        self,
        *,
        where: Any = None,
        order_by: Any = None,
        take: int | None = None,
        skip: int | None = None,
        cursor: Any = None,
        distinct: Any = None,
        select: Any = None,
        include: Any = None,
    ) -> Operation:
        return self._op(
            "findMany",
            {
                "where": where,
                "orderBy": order_by,
                "take": take,
                "skip": skip,
                "cursor": cursor,
                "distinct": distinct,
            },
            select,
            include,
        )

    def find_first(
        self,
        *,
        where: Any = None,
        order_by: Any = None,
        skip: int | None = None,
        cursor: Any = None,
        select: Any = None,
        include: Any = None,
    ) -> Operation:
        return self._op(
            "findFirst",
            {"where": where, "orderBy": order_by, "skip": skip, "cursor": cursor},
            select,
            include,
        )

    def find_first_or_throw(
        self, *, where: Any = None, order_by: Any = None, select: Any = None, include: Any = None
    ) -> Operation:
        return self._op("findFirstOrThrow", {"where": where, "orderBy": order_by}, select, include)

    def find_unique(self, *, where: Any, select: Any = None, include: Any = None) -> Operation:
        return self._op("findUnique", {"where": where}, select, include)

    def find_unique_or_throw(self, *, where: Any, select: Any = None, include: Any = None) -> Operation:
        return self._op("findUniqueOrThrow", {"where": where}, select, include)

    def create(self, *, data: Any, select: Any = None, include: Any = None) -> Operation:
        return self._op("createOne", {"data": data}, select, include)

    def create_many(self, *, data: list[Any], skip_duplicates: bool | None = None) -> Operation:
        return self._op(
            "createMany", {"data": data, "skipDuplicates": skip_duplicates}, unwrap=lambda v: v["count"]
        )

    def create_many_and_return(
        self, *, data: list[Any], skip_duplicates: bool | None = None, select: Any = None, include: Any = None
    ) -> Operation:
        return self._op(
            "createManyAndReturn", {"data": data, "skipDuplicates": skip_duplicates}, select, include
        )

    def update(self, *, where: Any, data: Any, select: Any = None, include: Any = None) -> Operation:
        return self._op("updateOne", {"where": where, "data": data}, select, include)

    def update_many(self, *, data: Any, where: Any = None, limit: int | None = None) -> Operation:
        return self._op(
            "updateMany", {"where": where, "data": data, "limit": limit}, unwrap=lambda v: v["count"]
        )

    def update_many_and_return(
        self, *, data: Any, where: Any = None, select: Any = None, include: Any = None
    ) -> Operation:
        return self._op("updateManyAndReturn", {"where": where, "data": data}, select, include)

    def upsert(
        self, *, where: Any, create: Any, update: Any, select: Any = None, include: Any = None
    ) -> Operation:
        return self._op("upsertOne", {"where": where, "create": create, "update": update}, select, include)

    def delete(self, *, where: Any, select: Any = None, include: Any = None) -> Operation:
        return self._op("deleteOne", {"where": where}, select, include)

    def delete_many(self, *, where: Any = None, limit: int | None = None) -> Operation:
        return self._op("deleteMany", {"where": where, "limit": limit}, unwrap=lambda v: v["count"])

    def count(self, *, where: Any = None, take: int | None = None, skip: int | None = None) -> Operation:
        sel = {"_count": {"arguments": {}, "selection": {"_all": True}}}
        return self._op(
            "aggregate",
            {"where": where, "take": take, "skip": skip},
            sel=sel,
            unwrap=lambda v: v["_count"]["_all"],
        )

    def aggregate(
        self,
        *,
        where: Any = None,
        order_by: Any = None,
        take: int | None = None,
        skip: int | None = None,
        **aggregates: dict[str, bool] | bool,
    ) -> Operation:
        sel = {}
        for op, fields in aggregates.items():
            name = op if op.startswith("_") else f"_{op}"
            if fields is True:
                sel[name] = {"arguments": {}, "selection": {"_all": True}}
            else:
                sel[name] = {"arguments": {}, "selection": dict(fields) if isinstance(fields, dict) else {}}
        return self._op(
            "aggregate", {"where": where, "orderBy": order_by, "take": take, "skip": skip}, sel=sel
        )

    def group_by(
        self,
        *,
        by: list[str],
        where: Any = None,
        having: Any = None,
        order_by: Any = None,
        take: int | None = None,
        skip: int | None = None,
        **aggregates: dict[str, bool],
    ) -> Operation:
        sel: dict[str, Any] = dict.fromkeys(by, True)
        for op, fields in aggregates.items():
            name = op if op.startswith("_") else f"_{op}"
            sel[name] = {"arguments": {}, "selection": dict(fields)}
        return self._op(
            "groupBy",
            {"by": by, "where": where, "having": having, "orderBy": order_by, "take": take, "skip": skip},
            sel=sel,
        )


class _Models:
    """Model accessors (`db.user`, `tx.post`) and raw queries, over one way of sending queries."""

    _names: dict[str, str] | None

    async def _post_query(self, body: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _model_name(self, accessor: str) -> str:
        names = self._names or {}
        return names.get(accessor, accessor)

    def __getattr__(self, name: str) -> ModelClient:
        if name.startswith("_"):
            raise AttributeError(name)
        return ModelClient(self, name)

    def query_raw(self, sql: str, *parameters: Any) -> Operation:
        """Rows of a raw SELECT as dicts; `$1, $2, …` are bound to `parameters`."""

        def rows(value: Any) -> Any:
            return [dict(zip(value["columns"], row, strict=True)) for row in value["rows"]]

        return Operation(self, None, "queryRaw", _raw(sql, parameters), {}, rows)

    def execute_raw(self, sql: str, *parameters: Any) -> Operation:
        """The number of rows a raw statement affected."""
        return Operation(self, None, "executeRaw", _raw(sql, parameters), {})


def _raw(sql: str, parameters: tuple[Any, ...]) -> dict[str, Any]:
    def tag(v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return {"prisma__type": "date", "prisma__value": v.isoformat()}
        if isinstance(v, bytes):
            return {"prisma__type": "bytes", "prisma__value": base64.b64encode(v).decode()}
        if isinstance(v, decimal.Decimal):
            return {"prisma__type": "decimal", "prisma__value": str(v)}
        if isinstance(v, Json):
            return v.value
        return v

    return {"query": sql, "parameters": json.dumps([tag(p) for p in parameters])}


class Client(_Models):
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
            raise QueryError(response.status_code, "P6000", response.text[:200]) from None
        if response.status_code >= 400:
            raise QueryError(
                response.status_code,
                payload.get("code", "P6000"),
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
                raise QueryError(400, error.get("code", "P6000"), error.get("message", ""), error.get("meta"))
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


class Transaction(_Models):
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

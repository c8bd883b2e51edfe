"""Model accessors (`db.user`, `tx.post`): Prisma's model operations in snake_case, each an `Operation`
that is awaited on its own or sent with others as one batch (`Client.tx`)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from .stream import EventStream
from .values import decode, encode, raw_arguments

_READ_ARGS = ("where", "orderBy", "take", "skip", "cursor", "distinct")
_SNAKE = {"order_by": "orderBy", "skip_duplicates": "skipDuplicates"}


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
        client: ModelAccessors,
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

    def __init__(self, client: ModelAccessors, accessor: str) -> None:
        self._client = client
        self._accessor = accessor

    @property
    def name(self) -> str:
        return self._client._model_name(self._accessor)

    def stream(self, **options: Any) -> EventStream:
        """Change events of this model: `async with db.user.stream(name=...) as events` (see stream.py)."""
        return self._client._stream(self._accessor, **options)

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


class ModelAccessors:
    """Model accessors (`db.user`, `tx.post`) and raw queries, over one way of sending queries."""

    _names: dict[str, str] | None

    async def _post_query(self, body: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _stream(self, accessor: str, **options: Any) -> EventStream:
        raise TypeError("Open streams on the client (db.<model>.stream), not inside a transaction.")

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

        return Operation(self, None, "queryRaw", raw_arguments(sql, parameters), {}, rows)

    def execute_raw(self, sql: str, *parameters: Any) -> Operation:
        """The number of rows a raw statement affected."""
        return Operation(self, None, "executeRaw", raw_arguments(sql, parameters), {})

"""The plan interpreter: evaluates a checked plan (see `check`) against one `Database`.

Values in scope are the request's placeholder values (`%1`, `%2`, …) plus the names `let` binds;
query results are lists of records (dicts of column → Python value). Pure nodes reshape those results;
`query`/`execute` are the only nodes that touch the database, `transaction` the only one that opens a
transaction.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

from bwcontract.codes import Code

from . import datamap, process, template, validation
from .errors import PlanError
from .executor import Database
from .generators import Generators


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, list) and not value)


def _as_records(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _join_key(value: Any) -> Any:
    # Keys from JSON and from columns must meet: compare numbers by value and everything else as text.
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | decimal.Decimal):
        return ("n", decimal.Decimal(value))
    if isinstance(value, float):
        return ("n", decimal.Decimal(repr(value)))
    return ("s", str(value))


def _number(value: Any) -> Any:
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        number = decimal.Decimal(value)
        return int(number) if number == number.to_integral_value() and "." not in value else number
    raise PlanError(f"Expected a number, got {type(value).__name__}.")


def _arith(kind: str, current: Any, operand: Any) -> Any:
    if current is None:
        return None
    a, b = _number(current), _number(operand)
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
    elif isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
        a, b = decimal.Decimal(a), decimal.Decimal(b)
    if kind == "add":
        return a + b
    if kind == "subtract":
        return a - b
    if kind == "multiply":
        return a * b
    if b == 0:
        raise PlanError("Division by zero in a field update.")
    if isinstance(a, int) and isinstance(b, int):
        return a // b if (a % b == 0 or (a < 0) == (b < 0)) else -(-a // b)
    return a / b


class Interpreter:
    def __init__(self, db: Database, generators: Generators | None = None) -> None:
        self.db = db
        self.generators = generators or Generators()

    async def run(self, plan: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        """The plan's result. A plan whose shape does not fit its node types is a PlanError (400)."""
        try:
            return await self.eval(plan, dict(params))
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, ArithmeticError) as exc:
            raise PlanError(f"The query plan is malformed ({type(exc).__name__}: {exc}).") from exc

    # --- values ---------------------------------------------------------------------------------

    def resolve(self, value: Any, scope: Mapping[str, Any]) -> Any:
        """A PrismaValue with its placeholders and generator calls replaced by values."""
        if isinstance(value, list):
            return [self.resolve(v, scope) for v in value]
        if isinstance(value, dict):
            marker = value.get("prisma__type")
            if marker == "param":
                name = value["prisma__value"]["name"]
                if name not in scope:
                    raise PlanError(
                        f"The plan refers to the value `{name}`, which the request does not bind."
                    )
                return scope[name]
            if marker == "generatorCall":
                call = value["prisma__value"]
                return self.generators.call(call["name"], self.resolve(call.get("args") or [], scope))
            return value
        return value

    # --- nodes ----------------------------------------------------------------------------------

    async def eval(self, node: Mapping[str, Any], scope: dict[str, Any]) -> Any:
        kind = node["type"]
        args = node.get("args")
        method = getattr(self, "_node_" + kind, None)
        if method is None:
            raise PlanError(f"Unknown plan node `{kind}`.")
        return await method(args, scope)

    async def _node_value(self, args: Any, scope: dict[str, Any]) -> Any:
        return self.resolve(args, scope)

    async def _node_seq(self, args: Any, scope: dict[str, Any]) -> Any:
        result = None
        for child in args:
            result = await self.eval(child, scope)
        return result

    async def _node_get(self, args: Any, scope: dict[str, Any]) -> Any:
        name = args["name"]
        if name not in scope:
            raise PlanError(f"The plan reads `{name}` before binding it.")
        return scope[name]

    async def _node_let(self, args: Any, scope: dict[str, Any]) -> Any:
        inner = dict(scope)
        for binding in args["bindings"]:
            inner[binding["name"]] = await self.eval(binding["expr"], inner)
        return await self.eval(args["expr"], inner)

    async def _node_getFirstNonEmpty(self, args: Any, scope: dict[str, Any]) -> Any:
        for name in args["names"]:
            value = scope.get(name)
            if not _is_empty(value):
                return value
        return []

    async def _node_concat(self, args: Any, scope: dict[str, Any]) -> Any:
        out: list[Any] = []
        for child in args:
            value = await self.eval(child, scope)
            if isinstance(value, list):
                out.extend(value)
            elif value is not None:
                out.append(value)
        return out

    async def _node_sum(self, args: Any, scope: dict[str, Any]) -> Any:
        total: Any = 0
        for child in args:
            value = await self.eval(child, scope)
            total += _number(value) if value is not None else 0
        return total

    async def _node_reverse(self, args: Any, scope: dict[str, Any]) -> Any:
        value = await self.eval(args, scope)
        return list(reversed(value)) if isinstance(value, list) else value

    async def _node_unique(self, args: Any, scope: dict[str, Any]) -> Any:
        value = await self.eval(args, scope)
        if not isinstance(value, list):
            return value
        if len(value) > 1:
            raise PlanError(f"Expected at most one record, the query returned {len(value)}.")
        return value[0] if value else None

    async def _node_required(self, args: Any, scope: dict[str, Any]) -> Any:
        value = await self.eval(args, scope)
        if _is_empty(value):
            raise PlanError("A record the plan requires is missing.", code=Code.RECORD_NOT_FOUND)
        return value

    async def _node_join(self, args: Any, scope: dict[str, Any]) -> Any:
        parent = await self.eval(args["parent"], scope)
        if parent is None:
            return None
        parents = _as_records(parent)
        for spec in args["children"]:
            children = _as_records(await self.eval(spec["child"], scope))
            pairs = [(p, c) for p, c in spec["on"]]
            groups: dict[tuple[Any, ...], list[Any]] = {}
            for child in children:
                key = tuple(_join_key(child.get(c)) for _p, c in pairs)
                groups.setdefault(key, []).append(child)
            unique = bool(spec.get("isRelationUnique"))
            field = spec["parentField"]
            for record in parents:
                if not isinstance(record, dict):
                    continue
                key = tuple(_join_key(record.get(p)) for p, _c in pairs)
                found = groups.get(key, [])
                record[field] = (found[0] if found else None) if unique else list(found)
        return parent

    async def _node_mapField(self, args: Any, scope: dict[str, Any]) -> Any:
        records = await self.eval(args["records"], scope)
        name = args["field"]
        if records is None:
            return None
        if isinstance(records, list):
            return [r.get(name) if isinstance(r, Mapping) else None for r in records]
        return records.get(name) if isinstance(records, Mapping) else None

    async def _node_dataMap(self, args: Any, scope: dict[str, Any]) -> Any:
        data = await self.eval(args["expr"], scope)
        return datamap.apply(data, args["structure"], args.get("enums") or {})

    async def _node_validate(self, args: Any, scope: dict[str, Any]) -> Any:
        value = await self.eval(args["expr"], scope)
        for rule in args["rules"]:
            if not validation.holds(rule, value):
                raise validation.error(args["errorIdentifier"], args.get("context") or {})
        return value

    async def _node_if(self, args: Any, scope: dict[str, Any]) -> Any:
        value = await self.eval(args["value"], scope)
        branch = args["then"] if validation.holds(args["rule"], value) else args["else"]
        return await self.eval(branch, scope)

    async def _node_unit(self, args: Any, scope: dict[str, Any]) -> Any:
        return None

    async def _node_diff(self, args: Any, scope: dict[str, Any]) -> Any:
        source = _as_records(await self.eval(args["from"], scope))
        remove = _as_records(await self.eval(args["to"], scope))
        fields = list(args.get("fields") or [])

        def key(item: Any) -> Any:
            if fields and isinstance(item, Mapping):
                return tuple(_join_key(item.get(f)) for f in fields)
            return _join_key(item)

        gone = {key(r) for r in remove}
        return [r for r in source if key(r) not in gone]

    async def _node_transaction(self, args: Any, scope: dict[str, Any]) -> Any:
        async with self.db.transaction():
            return await self.eval(args, scope)

    async def _node_process(self, args: Any, scope: dict[str, Any]) -> Any:
        return process.apply(
            await self.eval(args["expr"], scope), self._resolve_ops(args["operations"], scope)
        )

    def _resolve_ops(self, ops: Mapping[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
        """The operations with their cursor's values resolved (they are placeholders like any arg)."""
        resolved = dict(ops)
        pagination = ops.get("pagination")
        if isinstance(pagination, Mapping) and isinstance(pagination.get("cursor"), Mapping):
            cursor = {k: self.resolve(v, scope) for k, v in pagination["cursor"].items()}
            resolved["pagination"] = {**pagination, "cursor": cursor}
        nested = ops.get("nested")
        if isinstance(nested, Mapping):
            resolved["nested"] = {k: self._resolve_ops(v, scope) for k, v in nested.items()}
        return resolved

    async def _node_initializeRecord(self, args: Any, scope: dict[str, Any]) -> Any:
        result = await self.eval(args["expr"], scope)
        record: dict[str, Any] = {}
        for name, init in args["fields"].items():
            if init["type"] == "value":
                record[name] = self.resolve(init.get("value"), scope)
            else:
                last = result.get("lastInsertId") if isinstance(result, Mapping) else None
                if last is None:
                    raise PlanError(
                        "The plan needs the id of the last inserted row; Postgres plans use RETURNING."
                    )
                record[name] = last
        return record

    async def _node_mapRecord(self, args: Any, scope: dict[str, Any]) -> Any:
        data = await self.eval(args["expr"], scope)
        records = _as_records(data)
        for record in records:
            if not isinstance(record, dict):
                continue
            for name, op in args["fields"].items():
                operand = self.resolve(op.get("value"), scope)
                if op["type"] == "set":
                    record[name] = operand
                else:
                    record[name] = _arith(op["type"], record.get(name), operand)
        return data

    async def _node_query(self, args: Any, scope: dict[str, Any]) -> Any:
        if args["type"] == "rawSql":
            return await self.db.query_raw(self._raw_statement(args, scope))
        return await self.db.query(self._statements(args, scope))

    async def _node_execute(self, args: Any, scope: dict[str, Any]) -> Any:
        if args["type"] == "rawSql":
            return await self.db.execute_raw(self._raw_statement(args, scope))
        return await self.db.execute(self._statements(args, scope))

    def _statements(self, args: Mapping[str, Any], scope: Mapping[str, Any]) -> list[template.Statement]:
        values = [self.resolve(a, scope) for a in args.get("args") or []]
        return template.render_chunks(
            args["fragments"],
            values,
            args.get("argTypes") or [],
            args.get("placeholderFormat"),
            bool(args.get("chunkable")),
        )

    def _raw_statement(self, args: Mapping[str, Any], scope: Mapping[str, Any]) -> template.Statement:
        values = [self.resolve(a, scope) for a in args.get("args") or []]
        types = [template.ArgType.parse(t).scalar_type for t in args.get("argTypes") or []]
        types += ["unknown"] * (len(values) - len(types))
        return template.Statement(str(args["sql"]), values, types)

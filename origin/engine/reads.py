"""findMany/findFirst/findUnique → a `nodes.ReadPlan`: the selection (select/include/_count),
nested reads, order (fields, relations, _count, _relevance), the window (take/skip), cursor and
distinct."""

from __future__ import annotations

from typing import Any

from .arguments import count_source, fail, input_error, value_source
from .filters import plan_where, unique_filter
from .nodes import Order, ReadPlan, RelationCount, Relevance, Selection
from .params import Const, Leaf, Source
from .schema import Model, RelationField, Schema

# --- selection ----------------------------------------------------------------------------------


def plan_selection(schema: Schema, model: Model, selection: Any, path: str) -> Selection:
    if not isinstance(selection, dict):
        raise fail(f"`{path}` must be an object.", path)
    out = Selection(model)
    scalars = bool(selection.get("$scalars"))
    explicit = {k: v for k, v in selection.items() if not k.startswith("$")}
    _check_not_empty(selection, model.name, path)
    if scalars:
        for name, f in model.fields.items():
            if explicit.get(name) is False:
                continue
            out.entries.append(("scalar", name, f))
    for name, value in explicit.items():
        at = f"{path}.{name}"
        if name in model.fields:
            if value is True and not scalars:
                out.entries.append(("scalar", name, model.fields[name]))
            elif value not in (True, False):
                raise fail(f"`{at}` takes true or false.", at)
            continue
        relation = model.relations.get(name)
        if relation is not None:
            if value is False:
                continue
            nested = value if isinstance(value, dict) else {"arguments": {}, "selection": {"$scalars": True}}
            if value is True:
                nested = {"arguments": {}, "selection": {"$scalars": True, "$composites": True}}
            out.entries.append(("relation", name, plan_nested(schema, relation, nested, at)))
            continue
        if name == "_count":
            if value is False:
                continue
            out.entries.append(("count", name, _plan_counts(schema, model, value, at)))
            continue
        raise fail(
            f"Unknown field `{name}` for select statement on model `{model.name}`. "
            f"Available: {', '.join([*model.fields, *model.relations, '_count'])}.",
            at,
            modelName=model.name,
        )
    if not out.entries:
        if scalars:
            raise fail(
                f"The omit statement includes every field of the model {model.name}. At least one field "
                "must be included in the result",
                path,
            )
        raise fail(f"The selection of `{path}` must select at least one field.", path)
    return out


def _check_not_empty(selection: dict[str, Any], type_name: str, path: str) -> None:
    """A `select` of nothing, or of nothing but false, is refused as Prisma's engine refuses it."""
    if not selection:
        raise fail(f"The `select` statement for type {type_name} must not be empty.", path)
    if not any(selection.values()):
        raise fail(f"The `select` statement for type {type_name} needs at least one truthy value.", path)


def _plan_counts(schema: Schema, model: Model, value: Any, path: str) -> list[tuple[str, RelationCount]]:
    lists = [r for r in model.relations.values() if r.is_list]
    if value is True:
        return [(r.name, RelationCount(r, schema.models[r.target], None)) for r in lists]
    selection = value.get("selection", {}) if isinstance(value, dict) else None
    if not isinstance(selection, dict):
        raise fail(f"`{path}` takes true or a selection of relations.", path)
    _check_not_empty(selection, f"{model.name}CountOutputType", path)
    counts = []
    for name, spec in selection.items():
        relation = model.relations.get(name)
        if relation is None or not relation.is_list:
            raise fail(f"`{path}.{name}` is not a list relation of {model.name}.", f"{path}.{name}")
        if spec is False:
            continue
        where = None
        if isinstance(spec, dict):
            where = plan_where(
                schema,
                schema.models[relation.target],
                arguments_of(spec, f"{path}.{name}").get("where"),
                f"{path}.{name}.where",
            )
        counts.append((name, RelationCount(relation, schema.models[relation.target], where)))
    return counts


def arguments_of(node: dict[str, Any], path: str) -> dict[str, Any]:
    """A nested selection's `arguments`: an object of them, or none."""
    args = node.get("arguments") or {}
    if not isinstance(args, dict):
        raise fail(f"`{path}` takes its arguments as an object.", path)
    return args


def plan_nested(schema: Schema, relation: RelationField, node: dict[str, Any], path: str) -> ReadPlan:
    target = schema.models[relation.target]
    args = arguments_of(node, path)
    selection = node.get("selection")
    if selection is None:
        selection = {"$scalars": True}
    if not relation.is_list:
        extra = set(args) - {"where"}
        if extra:
            raise fail(f"A to-one relation takes no {', '.join(sorted(extra))}.", path)
    read = plan_find(schema, target, args, selection, path, single=not relation.is_list)
    read.relation = relation
    return read


# --- reads --------------------------------------------------------------------------------------

_FIND_ARGS = frozenset({"where", "orderBy", "take", "skip", "cursor", "distinct", "relationLoadStrategy"})


def plan_find(
    schema: Schema, model: Model, args: dict[str, Any], selection: Any, path: str, *, single: bool
) -> ReadPlan:
    unknown = set(args) - _FIND_ARGS
    if unknown:
        name = sorted(unknown)[0]
        raise fail(f"Unknown argument `{name}`.", f"{path}.{name}" if path else name)
    read = ReadPlan(model, plan_selection(schema, model, selection, f"{path}.select" if path else "select"))
    read.single = single
    read.filter = plan_where(schema, model, args.get("where"), _at(path, "where"))
    read.order = plan_order(schema, model, args.get("orderBy"), _at(path, "orderBy"))
    read.client_order = bool(read.order)
    if "take" in args and args["take"] is not None:
        take = args["take"]
        read.reverse = (isinstance(take, tuple) and take[0]) or (isinstance(take, int) and take < 0)
        if isinstance(take, int) and not isinstance(take, bool):
            read.take = Const(abs(take))
        else:
            read.take = count_source(take, _at(path, "take"))
    if args.get("skip") is not None:
        read.skip = count_source(args["skip"], _at(path, "skip"))
    if args.get("distinct") is not None:
        names = args["distinct"] if isinstance(args["distinct"], list) else [args["distinct"]]
        for name in names:
            if not isinstance(name, str) or name not in model.fields:
                raise fail(f"`distinct` names unknown field {name!r}.", _at(path, "distinct"))
            read.distinct.append(model.fields[name])
    if args.get("cursor") is not None:
        read.cursor_where = unique_filter(schema, model, args["cursor"], _at(path, "cursor"))
    # `skip: 0` alone is no page to Prisma's engine: the rows stay in the database's order.
    skips = read.skip is not None and not (type(args.get("skip")) is int and args["skip"] == 0)
    if read.take is not None or skips or read.cursor_where is not None or read.reverse:
        # Pages follow the client's order; without one, Prisma's engine orders by the id. Ties of a
        # partial order are broken by the identity too, so the same page always holds the same rows
        # (where Prisma's engine leaves them to Postgres; README: deliberate differences).
        have = {o.field.name for o in read.order if o.field is not None and not o.path}
        implicit = bool(read.order)
        for name in model.identity():
            if name not in have:
                read.order.append(Order((), model.fields[name], False, implicit=implicit))
    if read.reverse and not read.order:
        raise fail("A negative `take` needs an `orderBy` or an id.", _at(path, "take"))
    return read


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def plan_order(schema: Schema, model: Model, raw: Any, path: str, *, group: bool = False) -> list[Order]:
    if raw is None:
        return []
    orders: list[Order] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if not isinstance(item, dict):
            raise fail(f"`{path}` takes {{field: 'asc' | 'desc'}}.", path)
        for name, spec in item.items():
            orders.extend(_order_term(schema, model, name, spec, f"{path}.{name}", (), group))
    return orders


def _direction(spec: Any, path: str) -> tuple[bool, str]:
    if spec in ("asc", "desc"):
        return spec == "desc", ""
    if isinstance(spec, dict) and spec.get("sort") in ("asc", "desc") and set(spec) <= {"sort", "nulls"}:
        nulls = spec.get("nulls", "")
        if nulls not in ("", "first", "last"):
            raise fail("`nulls` is 'first' or 'last'.", path)
        return spec["sort"] == "desc", nulls
    raise fail(f"`{path}` must be 'asc', 'desc' or {{sort, nulls}}.", path)


def _order_term(
    schema: Schema,
    model: Model,
    name: str,
    spec: Any,
    path: str,
    via: tuple[RelationField, ...],
    group: bool,
) -> list[Order]:
    if name in model.fields:
        desc, nulls = _direction(spec, path)
        return [Order(via, model.fields[name], desc, nulls)]
    if name == "_relevance" and not via and not group:
        return [_relevance(schema, model, spec, path)]
    if group and name in ("_count", "_avg", "_sum", "_min", "_max") and not via:
        if not isinstance(spec, dict):
            raise fail(f"`{path}` takes {{field: 'asc' | 'desc'}}.", path)
        terms = []
        for field_name, direction in spec.items():
            if field_name not in model.fields:
                raise fail(f"Unknown field `{field_name}` in `{path}`.", f"{path}.{field_name}")
            desc, nulls = _direction(direction, f"{path}.{field_name}")
            terms.append(Order((), model.fields[field_name], desc, nulls, aggregate=name))
        return terms
    relation = model.relations.get(name)
    if relation is None or not isinstance(spec, dict):
        raise fail(f"Unknown field `{name}` in `{path}` of model {model.name}.", path)
    target = schema.models[relation.target]
    if relation.is_list:
        if set(spec) != {"_count"}:
            raise fail(f"A list relation is ordered by its `_count` only (`{path}`).", path)
        desc, nulls = _direction(spec["_count"], f"{path}._count")
        return [Order(via, None, desc, nulls, count_of=relation)]
    terms = []
    for inner, direction in spec.items():
        terms.extend(
            _order_term(schema, target, inner, direction, f"{path}.{inner}", (*via, relation), group)
        )
    return terms


def _relevance(schema: Schema, model: Model, spec: Any, path: str) -> Order:
    """`{_relevance: {fields, search, sort}}`: rank by ts_rank of the fields against the search."""
    if not isinstance(spec, dict) or set(spec) != {"fields", "search", "sort"}:
        raise fail(f"`{path}` takes {{fields, search, sort}}.", path)
    names = spec["fields"] if isinstance(spec["fields"], list) else [spec["fields"]]
    fields = []
    for name in names:
        found = model.fields.get(name) if isinstance(name, str) else None
        if found is None or found.type != "String" or found.is_list:
            raise fail(
                f"`{path}.fields` names String fields of {model.name}, not {name!r}.", f"{path}.fields"
            )
        fields.append(found)
    if not fields:
        raise fail(f"`{path}.fields` names at least one field.", f"{path}.fields")
    if spec["search"] is None:
        raise fail(f"`{path}.search` cannot be null.", f"{path}.search")
    search = value_source(schema, fields[0], spec["search"], f"{path}.search")
    desc, _ = _direction(spec["sort"], f"{path}.sort")
    return Order((), None, desc, relevance=Relevance(tuple(fields), search))


READ_ACTIONS = frozenset({"findMany", "findFirst", "findFirstOrThrow", "findUnique", "findUniqueOrThrow"})


def plan_read(schema: Schema, model: Model, action: str, args: dict[str, Any], selection: Any) -> ReadPlan:
    if action.startswith("findUnique"):
        extra = set(args) - {"where", "relationLoadStrategy"}
        if extra:
            raise fail(f"Unknown argument `{sorted(extra)[0]}` for {action}.", sorted(extra)[0])
        if "where" not in args:
            raise fail(f"Argument `where` is missing in {action}.", "where")
        read = plan_find(schema, model, {}, selection, "", single=True)
        read.filter = unique_filter(schema, model, args["where"])
        return read
    read = plan_find(schema, model, args, selection, "", single=action != "findMany")
    if action.startswith("findFirst") and read.take is not None:
        read.take = _one_row(read.take, action)
    return read


def _one_row(take: Source, action: str) -> Source:
    """findFirst takes 1 or -1 rows, nothing else (the sign is part of the query's shape)."""
    details = (
        f"The '{action.removesuffix('OrThrow')}' operation cannot be used with a 'take' argument "
        "that isn't 1 or -1"
    )

    def check(value: Any) -> Any:
        if value != 1:
            raise input_error(details)
        return value

    if isinstance(take, Leaf):
        inner = take.convert
        return Leaf(take.index, lambda v: check(inner(v)))
    return Const(check(take.get(None)))  # type: ignore[arg-type]

"""aggregate and groupBy → `nodes.AggregatePlan` / `nodes.GroupByPlan`: the aggregated fields,
the groups, `having`, and their order and window."""

from __future__ import annotations

from typing import Any

from .arguments import count_source, fail, input_error, items_of
from .fieldfilters import scalar_filter
from .filters import plan_where
from .nodes import AggregatePlan, All, Any_, Constant, Filter, GroupByPlan, Negate, Order
from .reads import plan_find, plan_order
from .schema import Model, ScalarField, Schema
from .stableorder import stable_order

# --- aggregates ---------------------------------------------------------------------------------

_AGGREGATES = ("_count", "_avg", "_sum", "_min", "_max")
_NUMERIC = frozenset({"Int", "BigInt", "Float", "Decimal"})


def _aggregate_fields(model: Model, op: str, node: Any, path: str) -> list[tuple[str, ScalarField | None]]:
    if op == "_count" and node is True:
        return [("_all", None)]
    selection = node.get("selection") if isinstance(node, dict) else None
    if not isinstance(selection, dict):
        raise fail(f"`{path}` takes a selection of fields.", path)
    fields: list[tuple[str, ScalarField | None]] = []
    for name, on in selection.items():
        if not on:
            continue
        if name == "_all" and op == "_count":
            fields.append(("_all", None))
            continue
        f = model.fields.get(name)
        if f is None:
            raise fail(f"Unknown field `{name}` in `{path}`.", f"{path}.{name}")
        if op in ("_avg", "_sum") and (f.type not in _NUMERIC or f.is_list):
            raise fail(f"`{op}` needs a number field; {name} is {f.type}.", f"{path}.{name}")
        if op in ("_min", "_max") and (f.is_list or f.type in ("Json", "Bytes")):
            raise fail(f"`{op}` cannot apply to {name}.", f"{path}.{name}")
        fields.append((name, f))
    if not fields:
        kind = f"{model.name}{op[1:].capitalize()}AggregateOutputType"
        raise fail(f"The `select` statement for type {kind} must not be empty.", path)
    return fields


def plan_aggregate(schema: Schema, model: Model, args: dict[str, Any], selection: Any) -> AggregatePlan:
    if not isinstance(selection, dict):
        raise fail("`selection` must be an object.", "selection")
    parts = []
    for op, node in selection.items():
        if op not in _AGGREGATES:
            raise fail(f"Unknown aggregate `{op}`.", op)
        parts.append((op, _aggregate_fields(model, op, node, op)))
    if not parts:
        raise fail(f"The `select` statement for type Aggregate{model.name} must not be empty.", "selection")
    read = plan_find(schema, model, args, {"$scalars": True}, "", single=False)
    client_order = [o for o in read.order if not o.implicit]
    if read.cursor_where is not None and not stable_order(schema, model, client_order):
        # Prisma's engine would page from this cursor in memory, which it cannot do for an aggregate.
        raise input_error(
            "Unable to process combination of query arguments for aggregation query. Please note "
            "that it is not possible at the moment to have a null-cursor, or a cursor and orderBy "
            "combination that not stable (unique)."
        )
    return AggregatePlan(model, read, parts)


def plan_group_by(schema: Schema, model: Model, args: dict[str, Any], selection: Any) -> GroupByPlan:
    unknown = set(args) - {"by", "where", "having", "orderBy", "take", "skip"}
    if unknown:
        raise fail(f"Unknown argument `{sorted(unknown)[0]}` for groupBy.", sorted(unknown)[0])
    raw_by = args.get("by")
    names = raw_by if isinstance(raw_by, list) else [raw_by]
    by = []
    for name in names:
        if not isinstance(name, str) or name not in model.fields:
            raise fail(f"`by` names unknown field {name!r}.", "by")
        by.append(model.fields[name])
    if not by:
        raise fail("`by` must name at least one field.", "by")
    entries: list[tuple[str, str, Any]] = []
    for name, node in (selection or {}).items():
        if name in _AGGREGATES:
            entries.append(("agg", name, _aggregate_fields(model, name, node, name)))
        elif name in model.fields:
            if model.fields[name] not in by:
                raise fail(f"Every selected field must be in `by`; {name} is not.", name)
            if node:
                entries.append(("field", name, model.fields[name]))
        else:
            raise fail(f"Unknown field `{name}` in the groupBy selection.", name)
    order = plan_order(schema, model, args.get("orderBy"), "orderBy", group=True)
    if not order and (args.get("take") is not None or args.get("skip") is not None):
        # Pages of groups are in id order, as Prisma's engine has it (so the id must be in `by`).
        order = [Order((), model.fields[name], False) for name in model.primary_key]
    missing = [o.field.name for o in order if not o.aggregate and o.field is not None and o.field not in by]
    if any(o.path or o.count_of or o.relevance for o in order):
        raise fail("groupBy orders by `by` fields or aggregates only.", "orderBy")
    if missing:
        raise input_error(
            "Every field used for orderBy must be included in the by-arguments of the query. "
            f"Missing fields: {', '.join(missing)}"
        )
    take = skip = None
    if args.get("take") is not None:
        take = count_source(args["take"], "take")
        if isinstance(args["take"], tuple) and args["take"][0]:
            raise fail("groupBy does not take a negative `take`.", "take")
    if args.get("skip") is not None:
        skip = count_source(args["skip"], "skip")
    return GroupByPlan(
        model,
        by,
        plan_where(schema, model, args.get("where")),
        _plan_having(schema, model, args.get("having"), "having", by),
        order,
        take,
        skip,
        entries,
    )


def _referenced_fields(value: Any) -> list[str]:
    """Fields named by field references (`prisma.model.fields.x`) inside a filter."""
    if isinstance(value, dict):
        if value.get("$type") == "FieldRef" and isinstance(value.get("value"), dict):
            return [str(value["value"].get("_ref"))]
        return [name for v in value.values() for name in _referenced_fields(v)]
    if isinstance(value, list):
        return [name for v in value for name in _referenced_fields(v)]
    return []


def _plan_having(
    schema: Schema, model: Model, having: Any, path: str, by: list[ScalarField]
) -> Filter | None:
    if having is None:
        return None
    if not isinstance(having, dict):
        raise fail(f"`{path}` must be an object.", path)
    items: list[Filter] = []
    for key, value in having.items():
        at = f"{path}.{key}"
        if key in ("AND", "OR", "NOT"):
            subs = tuple(
                _plan_having(schema, model, h, at, by) or Constant(True) for h in items_of(value, at)
            )
            items.append(
                All(subs)
                if key == "AND"
                else Any_(subs)
                if key == "OR"
                else All(tuple(Negate(s) for s in subs))
            )
            continue
        f = model.fields.get(key)
        if f is None:
            raise fail(f"Unknown field `{key}` in `having`.", at)
        plain = not (isinstance(value, dict) and set(value) & set(_AGGREGATES))
        named = [n for n in [key, *_referenced_fields(value)] if n in model.fields]
        missing = [n for n in named if plain and model.fields[n] not in by]
        if missing:
            raise input_error(
                "Every field used in `having` filters must either be an aggregation filter or be included "
                f"in the selection of the query. Missing fields: {', '.join(missing)}"
            )
        if isinstance(value, dict) and set(value) & set(_AGGREGATES):
            # `mode` goes with the field's own filters; an aggregate's filter has none (Prisma's
            # NestedStringFilter), so one there is refused as unknown.
            mode = {"mode": value["mode"]} if "mode" in value else {}
            for op, inner in value.items():
                if op == "mode":
                    continue
                if op not in _AGGREGATES:
                    items.append(scalar_filter(schema, f, {op: inner, **mode}, at))
                    continue
                target = f
                if op in ("_count",):
                    target = ScalarField(f.name, f.column, "Int")
                elif op == "_avg":
                    target = ScalarField(f.name, f.column, "Decimal" if f.type == "Decimal" else "Float")
                items.append(scalar_filter(schema, target, inner, f"{at}.{op}", aggregate=op, nested=True))
        else:
            items.append(scalar_filter(schema, f, value, at))
    if not items:
        return None
    return items[0] if len(items) == 1 else All(tuple(items))

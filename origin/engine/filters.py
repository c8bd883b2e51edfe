"""`where` → a `nodes.Filter`: AND/OR/NOT, relation filters (some/every/none/is/isNot) and unique
criteria; each field's own filter object is planned by `fieldfilters`."""

from __future__ import annotations

from typing import Any

from .arguments import fail, items_of, value_source
from .fieldfilters import is_tagged, scalar_filter
from .nodes import All, Any_, Compare, Constant, Filter, Negate, Op, Related, is_empty
from .schema import Model, RelationField, Schema

# --- where --------------------------------------------------------------------------------------


def plan_where(
    schema: Schema,
    model: Model,
    where: Any,
    path: str = "where",
    *,
    unique: bool = False,
    scalars_only: bool = False,
) -> Filter | None:
    """The filter of a `where` object; `unique` for a WhereUniqueInput, the only place its compound
    unique keys (`a_b: {a, b}`) may be named; `scalars_only` for a ScalarWhereInput (a nested
    updateMany / deleteMany), which names no relations."""
    if where is None:
        return None
    if not isinstance(where, dict):
        raise fail(f"`{path}` must be an object.", path)
    items: list[Filter] = []
    for key, value in where.items():
        at = f"{path}.{key}"
        if key in ("AND", "OR", "NOT"):
            if key == "OR" and not isinstance(value, list):
                raise fail("`OR` takes a list of conditions.", at)
            # Conditions inside AND / OR / NOT lists that end up with nothing to test (`{}`,
            # `{id: {}}`, `{OR: []}` inside an AND) are left out, as Prisma's engine leaves them.
            parts = [
                simplified(plan_where(schema, model, w, at, scalars_only=scalars_only) or All(()))
                for w in items_of(value, at)
            ]
            subs = tuple(p for p in parts if not is_empty(p))
            if key == "AND":
                items.append(All(subs))
            elif key == "OR":
                items.append(Any_(subs))
            else:
                negated = tuple(Negate(s) for s in subs)
                items.append(negated[0] if len(negated) == 1 else All(negated))
            continue
        scalar = model.fields.get(key)
        if scalar is not None:
            items.append(scalar_filter(schema, scalar, value, at))
            continue
        relation = model.relations.get(key)
        if relation is not None and not scalars_only:
            items.append(_relation_filter(schema, relation, value, at))
            continue
        compound = next((k for k in model.unique_keys() if k.name == key and len(k.fields) > 1), None)
        if compound is not None and isinstance(value, dict) and unique:
            missing = [f for f in compound.fields if f not in value]
            if missing:
                raise fail(f"`{at}` needs {', '.join(missing)}.", at)
            for name in compound.fields:
                items.append(
                    Compare(
                        model.fields[name],
                        Op.EQ,
                        value_source(schema, model.fields[name], value[name], f"{at}.{name}"),
                    )
                )
            continue
        raise fail(
            f"Unknown argument `{key}` in `{path}` of model {model.name}. "
            f"Available: {', '.join([*model.fields, *(() if scalars_only else model.relations)])}.",
            at,
            modelName=model.name,
        )
    return items[0] if len(items) == 1 else All(tuple(items))


def simplified(f: Filter) -> Filter:
    """`f` without its empty parts (an OR of nothing inside an AND is dropped, not false)."""
    if isinstance(f, All | Any_):
        kept = tuple(part for part in map(simplified, f.items) if not is_empty(part))
        return kept[0] if len(kept) == 1 else type(f)(kept)
    if isinstance(f, Negate):
        inner = simplified(f.item)
        return All(()) if is_empty(inner) else Negate(inner)
    return f


def _relation_filter(schema: Schema, relation: RelationField, value: Any, path: str) -> Filter:
    target = schema.models[relation.target]
    if relation.is_list:
        if not isinstance(value, dict) or not set(value) <= {"some", "every", "none"}:
            raise fail(f"`{path}` takes some, every or none.", path)
        items: list[Filter] = []
        for kind, inner in value.items():
            planned = plan_where(schema, target, inner, f"{path}.{kind}") or Constant(True)
            items.append(Related(relation, target, kind, planned))
        return items[0] if len(items) == 1 else All(tuple(items))
    if value is None:
        if relation.required:
            raise fail(f"`{path}` is a required relation and cannot be null.", path)
        return Related(relation, target, "isNot", Constant(True))
    if isinstance(value, dict) and set(value) <= {"is", "isNot"}:
        items = []
        for kind, inner in value.items():
            if inner is None and relation.required:
                raise fail(f"`{path}.{kind}` is a required relation and cannot be null.", f"{path}.{kind}")
            if inner is None:
                items.append(Related(relation, target, "isNot" if kind == "is" else "is", Constant(True)))
            else:
                planned = plan_where(schema, target, inner, f"{path}.{kind}") or Constant(True)
                items.append(Related(relation, target, kind, planned))
        return items[0] if len(items) == 1 else All(tuple(items))
    planned = plan_where(schema, target, value, path) or Constant(True)
    return Related(relation, target, "is", planned)


def unique_filter(schema: Schema, model: Model, where: Any, path: str = "where") -> Filter:
    """A `where` that must name one of the model's unique criteria (findUnique, update, delete, connect)."""
    if not isinstance(where, dict):
        raise fail(f"`{path}` must be an object.", path)
    singles = {c[0] for c in model.unique_criteria() if len(c) == 1}
    for key, value in where.items():
        # A unique field names one record: a value, not a filter (other fields may be filtered).
        if key in singles and (value is None or (isinstance(value, dict) and not is_tagged(value))):
            shown = "null" if value is None else "Object"
            expected = model.fields[key].type
            raise fail(
                f"Argument `{key}`: Invalid value provided. Expected {expected}, provided {shown}.",
                f"{path}.{key}",
            )
    named = set()
    for key, value in where.items():
        if (
            key in model.fields
            and value is not None
            and not (
                isinstance(value, dict)
                and not ("$type" in value and len(value) == 2)
                and set(value) - {"equals"}
            )
        ):
            named.add(key)
        for unique in model.unique_keys():
            if unique.name == key and len(unique.fields) > 1 and isinstance(value, dict):
                named.update(unique.fields)
    if not any(set(criteria) <= named for criteria in model.unique_criteria()):
        options = " or ".join("(" + ", ".join(c) + ")" for c in model.unique_criteria()) or "(none)"
        raise fail(
            f"Argument `{path}` of type {model.name}WhereUniqueInput needs at least one of its unique "
            f"criteria: {options}.",
            path,
            modelName=model.name,
        )
    planned = plan_where(schema, model, where, path, unique=True)
    assert planned is not None
    return planned

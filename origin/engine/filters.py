"""`where` → a `nodes.Filter`: field filters (Prisma's StringFilter, IntFilter, Json and list
filters, `not`), relation filters (some/every/none/is/isNot), AND/OR/NOT, and unique criteria."""

from __future__ import annotations

from typing import Any

from .arguments import fail, has_slot, items_of, null_marker, value_source
from .fingerprint import Slot
from .nodes import All, Any_, Compare, Constant, Filter, Negate, Op, Related
from .params import Const, Leaf, Source, Template
from .schema import Model, RelationField, ScalarField, Schema
from .values import converter, json_path, like_pattern, untag

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


def is_empty(f: Filter) -> bool:
    """A condition that tests nothing: an AND or OR of no conditions."""
    return isinstance(f, All | Any_) and not f.items


def simplified(f: Filter) -> Filter:
    """`f` without its empty parts (an OR of nothing inside an AND is dropped, not false)."""
    if isinstance(f, All | Any_):
        kept = tuple(part for part in map(simplified, f.items) if not is_empty(part))
        return kept[0] if len(kept) == 1 else type(f)(kept)
    if isinstance(f, Negate):
        inner = simplified(f.item)
        return All(()) if is_empty(inner) else Negate(inner)
    return f


_COMPARE_OPS = {"equals": Op.EQ, "lt": Op.LT, "lte": Op.LTE, "gt": Op.GT, "gte": Op.GTE}
_JSON_OPS = frozenset(
    {
        "string_contains",
        "string_starts_with",
        "string_ends_with",
        "array_contains",
        "array_starts_with",
        "array_ends_with",
    }
)
_FILTER_KEYS = frozenset(
    {
        *_COMPARE_OPS,
        "not",
        "in",
        "notIn",
        "contains",
        "startsWith",
        "endsWith",
        "search",
        "mode",
        "has",
        "hasEvery",
        "hasSome",
        "isEmpty",
        "path",
        *_JSON_OPS,
    }
)


def _field_ref(schema: Schema, f: ScalarField, node: Any, path: str) -> ScalarField | None:
    if isinstance(node, dict) and node.get("$type") == "FieldRef":
        ref = node.get("value") or {}
        model = schema.models.get(ref.get("_container", ""))
        other = model.fields.get(ref.get("_ref", "")) if model else None
        if other is None:
            raise fail(f"Unknown field reference in `{path}`.", path)
        return other
    return None


_ORDERED_OPS = frozenset({"equals", "in", "notIn", "lt", "lte", "gt", "gte", "not"})
_STRING_OPS = _ORDERED_OPS | {"contains", "startsWith", "endsWith", "mode", "search"}
_JSON_FILTER_OPS = frozenset({"equals", "path", "mode", "lt", "lte", "gt", "gte", "not", *_JSON_OPS})
_LIST_OPS = frozenset({"equals", "has", "hasEvery", "hasSome", "isEmpty"})


def filter_ops(f: ScalarField, *, nested: bool = False) -> frozenset[str]:
    """The operators of a field's filter object (Prisma's StringFilter, IntFilter, …); `nested` is
    the object under `not`, which has no `mode`."""
    if f.is_list:
        return _LIST_OPS
    if f.type == "Json":
        return _JSON_FILTER_OPS
    if f.is_enum or f.type == "Bytes":
        return frozenset({"equals", "in", "notIn", "not"})
    if f.type == "Boolean":
        return frozenset({"equals", "not"})
    if f.type == "String":
        return _STRING_OPS - {"mode"} if nested else _STRING_OPS
    return _ORDERED_OPS


def _is_tagged(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 2 and "$type" in value and "value" in value


def scalar_filter(
    schema: Schema, f: ScalarField, value: Any, path: str, aggregate: str = "", *, nested: bool = False
) -> Filter:
    is_ops = isinstance(value, dict) and not _is_tagged(value)
    if not is_ops:
        if f.is_list or f.type == "Json":
            # A list or Json field is filtered through its filter object only ({equals: …}).
            kind = "a list" if f.is_list else "a Json"
            raise fail(f"Argument `{path}`: {kind} field takes a filter object, e.g. {{equals: …}}.", path)
        if value is None and f.required and not aggregate:
            raise fail(f"Argument `{path}` must not be null.", path)
        return _compare(schema, f, "equals", value, path, False, None, aggregate)
    unknown = sorted(set(value) - filter_ops(f, nested=nested))
    if unknown:
        raise fail(f"Unknown argument `{unknown[0]}` in `{path}`.", f"{path}.{unknown[0]}")
    insensitive = value.get("mode") == "insensitive"
    if "mode" in value and value["mode"] not in ("default", "insensitive"):
        raise fail("`mode` is 'default' or 'insensitive'.", f"{path}.mode")
    if insensitive and f.type not in ("String", "Json"):
        raise fail("`mode: insensitive` only applies to String and Json fields.", f"{path}.mode")
    jpath: Source | None = None
    if "path" in value:
        if f.type != "Json":
            raise fail("`path` only applies to Json fields.", f"{path}.path")
        raw = value["path"]
        jpath = (
            Leaf(raw.index, json_path(f"{path}.path"))
            if isinstance(raw, Slot)
            else Const(json_path(path)(raw))
        )
    items: list[Filter] = []
    for op, operand in value.items():
        if op in ("mode", "path"):
            continue
        items.append(_compare(schema, f, op, operand, f"{path}.{op}", insensitive, jpath, aggregate))
    items = [i for i in items if not is_empty(i)]
    return items[0] if len(items) == 1 else All(tuple(items))


def _compare(
    schema: Schema,
    f: ScalarField,
    op: str,
    operand: Any,
    path: str,
    insensitive: bool,
    jpath: Source | None,
    aggregate: str,
) -> Filter:
    def compare(sql_op: Op, value: Source | None = None, **extra: Any) -> Compare:
        return Compare(f, sql_op, value, insensitive, jpath, aggregate=aggregate, **extra)

    marker = null_marker(operand)
    if f.type == "Json" and not f.is_list and marker:
        if op not in ("equals", "not"):
            raise fail(f"`{marker}` can only be compared with equals / not.", path)
        if marker == "DbNull":
            return compare(Op.IS_NULL if op == "equals" else Op.NOT_NULL)
        if marker == "JsonNull":
            return compare(Op.EQ if op == "equals" else Op.NE, Const("null"))
        anynull = Any_((compare(Op.IS_NULL), compare(Op.EQ, Const("null"))))
        return anynull if op == "equals" else Negate(anynull)
    other = _field_ref(schema, f, operand, path)
    if operand is None and (op not in ("equals", "not", "in", "notIn") or (f.required and not aggregate)):
        raise fail(f"Argument `{op}` must not be null.", path)
    if op in _COMPARE_OPS:
        if operand is None:
            return compare(Op.IS_NULL)
        if other is not None:
            return compare(_COMPARE_OPS[op], other=other)
        return compare(_COMPARE_OPS[op], value_source(schema, f, operand, path))
    if op == "not":
        if operand is None:
            return compare(Op.NOT_NULL)
        if isinstance(operand, dict) and not _is_tagged(operand) and f.type != "Json":
            return _negated_object(schema, f, operand, path, insensitive, jpath, aggregate, negate=True)
        if other is not None:
            return compare(Op.NE, other=other)
        return compare(Op.NE, value_source(schema, f, operand, path))
    if op in ("in", "notIn"):
        if operand is None:
            return compare(Op.IS_NULL if op == "in" else Op.NOT_NULL)
        if operand == []:
            return Constant(op == "notIn")
        if f.is_list:
            raise fail(f"`{op}` does not apply to list fields.", path)
        single = (isinstance(operand, Slot) and operand.kind != "l") or _is_tagged(operand)
        if single or isinstance(operand, bool):
            raise fail(f"Argument `{op}`: Invalid value provided. Expected a list of {f.type}.", path)
        source = _list_source(schema, f, operand, path)
        return compare(Op.IN if op == "in" else Op.NOT_IN, source)
    if op in ("contains", "startsWith", "endsWith"):
        if f.type != "String" or f.is_list:
            raise fail(f"`{op}` only applies to String fields.", path)
        if isinstance(operand, Slot):
            return compare(Op.LIKE, Leaf(operand.index, like_pattern(op, path)))
        return compare(Op.LIKE, Const(like_pattern(op, path)(operand)))
    if op == "search":
        # Full-text search (Prisma's fullTextSearchPostgres): the operand is a tsquery text.
        if f.type != "String" or f.is_list:
            raise fail("`search` only applies to String fields.", path)
        if operand is None:
            raise fail("`search` cannot be null.", path)
        return compare(Op.SEARCH, value_source(schema, f, operand, path))
    if op in ("has", "hasEvery", "hasSome", "isEmpty"):
        if not f.is_list:
            raise fail(f"`{op}` only applies to list fields.", path)
        if op == "isEmpty":
            if not isinstance(operand, bool):
                raise fail("`isEmpty` takes true or false.", path)
            return compare(Op.IS_EMPTY if operand else Op.NOT_EMPTY)
        if op == "has":
            if operand is None:
                raise fail("`has` cannot be null.", path)
            return compare(Op.HAS, value_source(schema, f, operand, path, element=True))
        # An empty list is tested as such (`@> '{}'`, `&& '{}'`: NULL for a NULL list, as Prisma's
        # engine has it).
        return compare(Op(op), value_source(schema, f, operand, path))
    if op in _JSON_OPS:
        if f.type != "Json":
            raise fail(f"`{op}` only applies to Json fields.", path)
        if op.startswith("string_"):
            kind = {"string_contains": "contains", "string_starts_with": "startsWith"}.get(op, "endsWith")
            pattern = like_pattern(kind, path)
            src = Leaf(operand.index, pattern) if isinstance(operand, Slot) else Const(pattern(operand))
            return compare(Op.JSON_LIKE, src)
        return compare(Op(op), value_source(schema, f, operand, path))
    raise fail(f"Unknown filter `{op}` for field {f.name}.", path)


def _negated_object(
    schema: Schema,
    f: ScalarField,
    operand: dict[str, Any],
    path: str,
    insensitive: bool,
    jpath: Source | None,
    aggregate: str,
    *,
    negate: bool,
) -> Filter:
    """`not: {…}` as Prisma's engine reads it: each condition negated on its own (`not: {gt: 1,
    lt: 5}` is NOT gt AND NOT lt, not NOT (gt AND lt)); a `not: {…}` inside flips back; and a
    `not: value` anywhere inside is plain `<> value`."""
    unknown = sorted(set(operand) - filter_ops(f, nested=True))
    if unknown:
        raise fail(f"Unknown argument `{unknown[0]}` in `{path}`.", f"{path}.{unknown[0]}")
    parts: list[Filter] = []
    for key, value in operand.items():
        at = f"{path}.{key}"
        if key == "mode":
            continue
        if key == "not" and isinstance(value, dict) and not _is_tagged(value):
            parts.append(
                _negated_object(schema, f, value, at, insensitive, jpath, aggregate, negate=not negate)
            )
            continue
        one = _compare(schema, f, key, value, at, insensitive, jpath, aggregate)
        parts.append(Negate(one) if negate and key != "not" and not is_empty(one) else one)
    kept = [p for p in parts if not is_empty(p)]
    return kept[0] if len(kept) == 1 else All(tuple(kept))


def _list_source(schema: Schema, f: ScalarField, operand: Any, path: str) -> Source:
    enum = schema.enums.get(f.type) if f.is_enum else None
    item = converter(f, enum, None, path, element=True)

    def convert(values: Any) -> Any:
        if not isinstance(values, list):
            values = [values]
        return [item(untag(v)) for v in values]

    if isinstance(operand, Slot):
        return Leaf(operand.index, convert)
    if isinstance(operand, list) and has_slot(operand):
        return Template(operand, convert)
    return Const(convert(operand))


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
        if key in singles and (value is None or (isinstance(value, dict) and not _is_tagged(value))):
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

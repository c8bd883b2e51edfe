"""A field's filter (Prisma's StringFilter, IntFilter, …, its Json and scalar-list filters, and
`not`) → `nodes.Compare`s: each of Prisma's filter keys becomes one `nodes.Op`, its operand a
`params.Source` converted as the field's values are. `filters` plans the rest of a `where`."""

from __future__ import annotations

from typing import Any

from .arguments import fail, has_slot, null_marker, value_source
from .fingerprint import Slot
from .nodes import All, Any_, Compare, Constant, Filter, Negate, Op, is_empty
from .params import Const, Leaf, Source, Template
from .schema import ScalarField, Schema
from .values import converter, json_path, like_pattern, untag

_COMPARE_OPS = {"equals": Op.EQ, "lt": Op.LT, "lte": Op.LTE, "gt": Op.GT, "gte": Op.GTE}
# The list and Json keys whose value is compared as it is (named, not looked up by the Op's value).
_VALUE_OPS = {
    "hasEvery": Op.HAS_EVERY,
    "hasSome": Op.HAS_SOME,
    "array_contains": Op.ARRAY_CONTAINS,
    "array_starts_with": Op.ARRAY_STARTS_WITH,
    "array_ends_with": Op.ARRAY_ENDS_WITH,
}
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


def is_tagged(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 2 and "$type" in value and "value" in value


def scalar_filter(
    schema: Schema, f: ScalarField, value: Any, path: str, aggregate: str = "", *, nested: bool = False
) -> Filter:
    is_ops = isinstance(value, dict) and not is_tagged(value)
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
        if isinstance(operand, dict) and not is_tagged(operand) and f.type != "Json":
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
        single = (isinstance(operand, Slot) and operand.kind != "l") or is_tagged(operand)
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
        return compare(_VALUE_OPS[op], value_source(schema, f, operand, path))
    if op in _JSON_OPS:
        if f.type != "Json":
            raise fail(f"`{op}` only applies to Json fields.", path)
        if op.startswith("string_"):
            kind = {"string_contains": "contains", "string_starts_with": "startsWith"}.get(op, "endsWith")
            pattern = like_pattern(kind, path)
            src = Leaf(operand.index, pattern) if isinstance(operand, Slot) else Const(pattern(operand))
            return compare(Op.JSON_LIKE, src)
        return compare(_VALUE_OPS[op], value_source(schema, f, operand, path))
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
        if key == "not" and isinstance(value, dict) and not is_tagged(value):
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

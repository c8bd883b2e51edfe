"""Resolve a query skeleton (see `fingerprint`) against the schema into a read plan: filters,
selections, ordering and windows as plain data. Everything the SQL stage needs, nothing that did not
come from the schema, and no request values: those stay behind `params.Source`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bwcontract.codes import Code

from ..errors import KnownRequestError, QueryValidationError
from .fingerprint import Slot
from .params import Const, Leaf, Source, Template
from .schema import Model, RelationField, ScalarField, Schema
from .values import converter, count, json_path, like_pattern, untag

# --- filters ------------------------------------------------------------------------------------


class Filter:
    pass


@dataclass(frozen=True)
class All(Filter):
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Any_(Filter):
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Negate(Filter):
    item: Filter


@dataclass(frozen=True)
class Constant(Filter):
    value: bool


@dataclass(frozen=True)
class Compare(Filter):
    """`column op value`; op: = <> < <= > >= in notin like isnull notnull has hasEvery hasSome
    isEmpty notEmpty, or a Json op with `json_path`. `aggregate` wraps the column (groupBy having)."""

    field: ScalarField
    op: str
    value: Source | None = None
    insensitive: bool = False
    json_path: Source | None = None
    other: ScalarField | None = None  # a field reference instead of a value
    aggregate: str = ""


@dataclass(frozen=True)
class Related(Filter):
    """some | every | none | is | isNot over a relation."""

    relation: RelationField
    model: Model  # the related model
    kind: str
    inner: Filter


# --- selection and order ------------------------------------------------------------------------


@dataclass
class Selection:
    model: Model
    # In output order: ("scalar", name, ScalarField) | ("relation", name, ReadPlan) | ("count", name, counts)
    entries: list[tuple[str, str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RelationCount:
    relation: RelationField
    model: Model
    filter: Filter | None


@dataclass(frozen=True)
class Order:
    """ORDER BY one term: a field reached through to-one `path`, a relation's `_count`, or the
    full-text relevance of some String fields to a search (`_relevance`)."""

    path: tuple[RelationField, ...]
    field: ScalarField | None
    descending: bool
    nulls: str = ""  # "" | first | last
    count_of: RelationField | None = None
    aggregate: str = ""  # groupBy: _count _avg _sum _min _max
    relevance: Relevance | None = None
    implicit: bool = False  # added by us to make pages deterministic; not the client's order


@dataclass(frozen=True)
class Relevance:
    fields: tuple[ScalarField, ...]
    search: Source  # a tsquery text


@dataclass
class ReadPlan:
    model: Model
    selection: Selection
    filter: Filter | None = None
    order: list[Order] = field(default_factory=list)
    take: Source | None = None
    reverse: bool = False  # a negative take: read backwards, return in order
    skip: Source | None = None
    cursor: Filter | None = None  # rows at or after the cursor record in `order`
    cursor_where: Filter | None = None
    distinct: list[ScalarField] = field(default_factory=list)
    single: bool = False
    relation: RelationField | None = None  # set on nested reads: how they join their parent
    client_order: bool = False  # the client gave an orderBy


@dataclass
class AggregatePlan:
    model: Model
    read: ReadPlan  # the rows aggregated (filter, order, window)
    # (output key, op, [(name, field or None for _all)])
    parts: list[tuple[str, list[tuple[str, ScalarField | None]]]]


@dataclass
class GroupByPlan:
    model: Model
    by: list[ScalarField]
    filter: Filter | None
    having: Filter | None
    order: list[Order]
    take: Source | None
    skip: Source | None
    # output entries: ("field", name, ScalarField) | ("agg", op, [(name, field|None)])
    entries: list[tuple[str, str, Any]]


# --- helpers ------------------------------------------------------------------------------------


def fail(message: str, path: str, **meta: Any) -> QueryValidationError:
    return QueryValidationError(message, meta={"argumentPath": path, **meta})


def model_of(schema: Schema, name: str | None) -> Model:
    found = schema.models.get(name or "")
    if found is None:
        raise QueryValidationError(
            f"Unknown model `{name}`.", meta={"modelName": name, "available": sorted(schema.models)}
        )
    return found


def has_slot(node: Any) -> bool:
    if isinstance(node, Slot):
        return True
    if isinstance(node, dict):
        return any(has_slot(v) for v in node.values())
    if isinstance(node, list | tuple):
        return any(has_slot(v) for v in node)
    return False


def value_source(schema: Schema, f: ScalarField, node: Any, path: str, *, element: bool = False) -> Source:
    """The bind parameter for a value given for field `f` (a slot, a tagged slot, or a literal)."""
    enum = schema.enums.get(f.type) if f.is_enum else None
    if isinstance(node, Slot):
        return Leaf(node.index, converter(f, enum, None, path, element=element))
    if isinstance(node, dict) and len(node) == 2 and "$type" in node and "value" in node:
        tag = node["$type"]
        if tag in ("FieldRef", "Enum"):
            raise fail(f"A {tag} cannot be used as a value of `{path}`.", path)
        inner = node["value"]
        convert = converter(f, enum, tag, path, element=element)
        if isinstance(inner, Slot):
            return Leaf(inner.index, convert)
        return Const(convert(inner))
    if isinstance(node, tuple):  # a `take`-shaped leaf where a value was meant
        return Leaf(node[1].index, converter(f, enum, None, path, element=element))
    convert = converter(f, enum, None, path, element=element)
    if f.type == "Json" and (element or not f.is_list) and has_slot(node):
        return Template(node, convert)
    if f.is_list and not element and isinstance(node, list) and has_slot(node):
        return Template(node, convert)
    return Const(convert(node))


def count_source(node: Any, path: str) -> Source:
    if isinstance(node, tuple):
        return Leaf(node[1].index, count(path, allow_negative=True))
    if isinstance(node, Slot):
        return Leaf(node.index, count(path))
    if isinstance(node, int) and not isinstance(node, bool) and node >= 0:
        return Const(node)
    raise fail(f"`{path}` must be a non-negative integer.", path)


def items_of(node: Any, path: str) -> list[Any]:
    if isinstance(node, dict):
        return [node]
    if isinstance(node, list):
        return node
    raise fail(f"`{path}` takes an object or a list of objects.", path)


def null_marker(node: Any) -> str:
    if isinstance(node, dict) and node.get("$type") == "Enum" and len(node) == 2:
        return str(node.get("value"))
    return ""


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
            items.append(_scalar_filter(schema, scalar, value, at))
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
                        "=",
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


_COMPARE_OPS = {"equals": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
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


def _scalar_filter(
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
    def compare(sql_op: str, value: Source | None = None, **extra: Any) -> Compare:
        return Compare(f, sql_op, value, insensitive, jpath, aggregate=aggregate, **extra)

    marker = null_marker(operand)
    if f.type == "Json" and not f.is_list and marker:
        if op not in ("equals", "not"):
            raise fail(f"`{marker}` can only be compared with equals / not.", path)
        if marker == "DbNull":
            return compare("isnull" if op == "equals" else "notnull")
        if marker == "JsonNull":
            return compare("=" if op == "equals" else "<>", Const("null"))
        anynull = Any_((compare("isnull"), compare("=", Const("null"))))
        return anynull if op == "equals" else Negate(anynull)
    other = _field_ref(schema, f, operand, path)
    if operand is None and (op not in ("equals", "not", "in", "notIn") or (f.required and not aggregate)):
        raise fail(f"Argument `{op}` must not be null.", path)
    if op in _COMPARE_OPS:
        if operand is None:
            return compare("isnull")
        if other is not None:
            return compare(_COMPARE_OPS[op], other=other)
        return compare(_COMPARE_OPS[op], value_source(schema, f, operand, path))
    if op == "not":
        if operand is None:
            return compare("notnull")
        if isinstance(operand, dict) and not _is_tagged(operand) and f.type != "Json":
            return _negated_object(schema, f, operand, path, insensitive, jpath, aggregate, negate=True)
        if other is not None:
            return compare("<>", other=other)
        return compare("<>", value_source(schema, f, operand, path))
    if op in ("in", "notIn"):
        if operand is None:
            return compare("isnull" if op == "in" else "notnull")
        if operand == []:
            return Constant(op == "notIn")
        if f.is_list:
            raise fail(f"`{op}` does not apply to list fields.", path)
        single = (isinstance(operand, Slot) and operand.kind != "l") or _is_tagged(operand)
        if single or isinstance(operand, bool):
            raise fail(f"Argument `{op}`: Invalid value provided. Expected a list of {f.type}.", path)
        source = _list_source(schema, f, operand, path)
        return compare("in" if op == "in" else "notin", source)
    if op in ("contains", "startsWith", "endsWith"):
        if f.type != "String" or f.is_list:
            raise fail(f"`{op}` only applies to String fields.", path)
        if isinstance(operand, Slot):
            return compare("like", Leaf(operand.index, like_pattern(op, path)))
        return compare("like", Const(like_pattern(op, path)(operand)))
    if op == "search":
        # Full-text search (Prisma's fullTextSearchPostgres): the operand is a tsquery text.
        if f.type != "String" or f.is_list:
            raise fail("`search` only applies to String fields.", path)
        if operand is None:
            raise fail("`search` cannot be null.", path)
        return compare("search", value_source(schema, f, operand, path))
    if op in ("has", "hasEvery", "hasSome", "isEmpty"):
        if not f.is_list:
            raise fail(f"`{op}` only applies to list fields.", path)
        if op == "isEmpty":
            if not isinstance(operand, bool):
                raise fail("`isEmpty` takes true or false.", path)
            return compare("isEmpty" if operand else "notEmpty")
        if op == "has":
            if operand is None:
                raise fail("`has` cannot be null.", path)
            return compare("has", value_source(schema, f, operand, path, element=True))
        # An empty list is tested as such (`@> '{}'`, `&& '{}'`: NULL for a NULL list, as Prisma's
        # engine has it).
        return compare(op, value_source(schema, f, operand, path))
    if op in _JSON_OPS:
        if f.type != "Json":
            raise fail(f"`{op}` only applies to Json fields.", path)
        if op.startswith("string_"):
            kind = {"string_contains": "contains", "string_starts_with": "startsWith"}.get(op, "endsWith")
            pattern = like_pattern(kind, path)
            src = Leaf(operand.index, pattern) if isinstance(operand, Slot) else Const(pattern(operand))
            return compare("json_like", src)
        return compare(op, value_source(schema, f, operand, path))
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


def input_error(details: str) -> KnownRequestError:
    """Arguments that fit the schema but not together (Prisma's P2019)."""
    return KnownRequestError(f"Input error. {details}", code=Code.INPUT_ERROR, meta={"details": details})


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
    if read.cursor_where is not None:
        # Prisma's engine pages an aggregate from a cursor only over an order of required fields
        # that holds a unique one.
        unique = {c[0] for c in model.unique_criteria() if len(c) == 1}
        fields = [o.field for o in client_order if not o.path and o.count_of is None and o.relevance is None]
        stable = len(fields) == len(client_order) and all(f is not None and f.required for f in fields)
        if not stable or not any(f is not None and f.name in unique for f in fields):
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
            for op, inner in value.items():
                if op not in _AGGREGATES:
                    items.append(_scalar_filter(schema, f, {op: inner}, at))
                    continue
                target = f
                if op in ("_count",):
                    target = ScalarField(f.name, f.column, "Int")
                elif op == "_avg":
                    target = ScalarField(f.name, f.column, "Decimal" if f.type == "Decimal" else "Float")
                items.append(_scalar_filter(schema, target, inner, f"{at}.{op}", aggregate=op))
        else:
            items.append(_scalar_filter(schema, f, value, at))
    if not items:
        return None
    return items[0] if len(items) == 1 else All(tuple(items))

"""What every planning module needs from a request's arguments: errors at an argument path, the
model named, and a value given for a field as its bind parameter (`params.Source`)."""

from __future__ import annotations

from typing import Any

from bwcontract.codes import Code

from ..errors import KnownRequestError, QueryValidationError
from .fingerprint import Slot
from .params import Const, Leaf, Source, Template
from .schema import Model, ScalarField, Schema
from .values import converter, count


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


def input_error(details: str) -> KnownRequestError:
    """Arguments that fit the schema but not together (Prisma's P2019)."""
    return KnownRequestError(f"Input error. {details}", code=Code.INPUT_ERROR, meta={"details": details})

"""Resolve a parsed query against the schema into a plan: which columns, which conditions, which
order and window. Everything the SQL stage needs, and nothing that did not come from the schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import QueryValidationError
from .request import JsonQuery
from .schema import Model, ScalarField, Schema
from .values import decode_input

READ_ACTIONS = frozenset({"findMany", "findFirst", "findFirstOrThrow", "findUnique", "findUniqueOrThrow"})


@dataclass(frozen=True)
class Condition:
    field: ScalarField
    value: Any  # a decoded Python value; None means IS NULL


@dataclass
class ReadPlan:
    model: Model
    action: str
    columns: list[ScalarField]
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[ScalarField, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None
    offset: int | None = None

    @property
    def single(self) -> bool:
        return not self.action.startswith("findMany")

    @property
    def or_throw(self) -> bool:
        return self.action.endswith("OrThrow")


def _field(model: Model, name: str, path: str) -> ScalarField:
    found = model.fields.get(name)
    if found is None:
        raise QueryValidationError(
            f"Unknown argument `{name}` in `{path}` of model {model.name}. "
            f"Available: {', '.join(model.fields)}.",
            meta={"argumentPath": f"{path}.{name}", "modelName": model.name},
        )
    return found


def _conditions(model: Model, where: Any) -> list[Condition]:
    if not isinstance(where, dict):
        raise QueryValidationError("`where` must be an object.", meta={"argumentPath": "where"})
    found: list[Condition] = []
    for name, raw in where.items():
        if name not in model.fields and isinstance(raw, dict):
            # A compound unique selector: {"a_b": {"a": 1, "b": 2}}.
            found.extend(_conditions(model, raw))
            continue
        f = _field(model, name, "where")
        value = raw
        if isinstance(raw, dict) and "$type" not in raw:
            if set(raw) != {"equals"}:
                raise QueryValidationError(
                    f"Only equality filters are supported on `{name}` here.",
                    meta={"argumentPath": f"where.{name}"},
                )
            value = raw["equals"]
        found.append(Condition(f, decode_input(f, value)))
    return found


def _columns(model: Model, selection: dict[str, Any]) -> list[ScalarField]:
    if selection.get("$scalars"):
        return list(model.fields.values())
    picked = [
        _field(model, name, "select") for name, on in selection.items() if not name.startswith("$") and on
    ]
    if not picked:
        raise QueryValidationError("The selection is empty.", meta={"argumentPath": "select"})
    return picked


def _order(model: Model, raw: Any) -> list[tuple[ScalarField, bool]]:
    items = raw if isinstance(raw, list) else [raw]
    order: list[tuple[ScalarField, bool]] = []
    for item in items:
        if not isinstance(item, dict):
            raise QueryValidationError(
                "`orderBy` takes {field: 'asc' | 'desc'}.", meta={"argumentPath": "orderBy"}
            )
        for name, direction in item.items():
            if direction not in ("asc", "desc"):
                raise QueryValidationError(
                    f"`orderBy.{name}` must be 'asc' or 'desc'.", meta={"argumentPath": f"orderBy.{name}"}
                )
            order.append((_field(model, name, "orderBy"), direction == "desc"))
    return order


def _count(arguments: dict[str, Any], name: str) -> int | None:
    raw = arguments.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise QueryValidationError(f"`{name}` must be a non-negative integer.", meta={"argumentPath": name})
    return raw


def plan_read(schema: Schema, query: JsonQuery) -> ReadPlan:
    if query.action not in READ_ACTIONS:
        raise QueryValidationError(f"The action `{query.action}` is not supported.")
    model = schema.models.get(query.model or "")
    if model is None:
        raise QueryValidationError(
            f"Unknown model `{query.model}`.",
            meta={"modelName": query.model, "available": sorted(schema.models)},
        )
    args = query.arguments
    allowed = {"where", "take", "skip", "orderBy"}
    unknown = set(args) - allowed
    if unknown:
        raise QueryValidationError(
            f"Unsupported argument(s) {', '.join(sorted(unknown))} for {query.action}.",
            meta={"argumentPath": sorted(unknown)[0]},
        )
    plan = ReadPlan(model, query.action, _columns(model, query.selection))
    plan.conditions = _conditions(model, args.get("where", {}))
    plan.order = _order(model, args["orderBy"]) if "orderBy" in args else []
    plan.limit = _count(args, "take")
    plan.offset = _count(args, "skip")
    if query.action.startswith("findUnique"):
        named = {c.field.name for c in plan.conditions}
        if not any(set(criteria) <= named for criteria in model.unique_criteria()):
            raise QueryValidationError(
                f"`where` of {query.action} must name a unique criterion of {model.name}: "
                + " or ".join("(" + ", ".join(c) + ")" for c in model.unique_criteria()),
                meta={"argumentPath": "where"},
            )
        plan.limit = 1
    elif plan.single:
        plan.limit = 1
    return plan

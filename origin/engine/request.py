"""Parse a JSON-protocol query body into a typed request (structure only; the plan checks it
against the schema)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import QueryValidationError


@dataclass(frozen=True)
class JsonQuery:
    model: str | None
    action: str
    arguments: dict[str, Any]
    selection: dict[str, Any]


def parse(body: Any) -> JsonQuery:
    if not isinstance(body, dict):
        raise QueryValidationError("A query is a JSON object {modelName, action, query}.")
    action = body.get("action")
    model = body.get("modelName")
    query = body.get("query")
    if not isinstance(action, str) or not action:
        raise QueryValidationError("The query has no `action`.")
    if model is not None and not isinstance(model, str):
        raise QueryValidationError("`modelName` must be a string.")
    if not isinstance(query, dict):
        raise QueryValidationError("The query has no `query` object with `arguments` and `selection`.")
    arguments = query.get("arguments", {})
    selection = query.get("selection", {"$scalars": True})
    if not isinstance(arguments, dict) or not isinstance(selection, dict):
        raise QueryValidationError("`query.arguments` and `query.selection` must be objects.")
    return JsonQuery(model, action, arguments, selection)

"""Parse a JSON-protocol body into typed requests (structure only; the planner checks them against
the schema): one query, or a batch with an optional transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bwcontract.codes import Code

from ..errors import BadRequest, QueryValidationError

# Queries in one batch. Prisma batches every `findUnique` of one tick into one request (its
# dataloader), so a `Promise.all` over a long list arrives as one batch: stay generous.
MAX_BATCH_QUERIES = 5000


@dataclass(slots=True)
class JsonQuery:
    model: str | None
    action: str
    body: dict[str, Any]  # {"arguments": …, "selection": …}

    @property
    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = self.body.get("arguments") or {}
        return args

    @property
    def selection(self) -> dict[str, Any]:
        sel: dict[str, Any] = self.body.get("selection") or {}
        return sel


@dataclass(frozen=True)
class Batch:
    queries: list[JsonQuery]
    transaction: bool
    isolation: str | None


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
    return JsonQuery(model, action, {"arguments": arguments, "selection": selection})


def parse_batch(body: dict[str, Any]) -> Batch:
    items = body.get("batch")
    if not isinstance(items, list):
        raise QueryValidationError("`batch` must be a list of queries.")
    if len(items) > MAX_BATCH_QUERIES:
        raise BadRequest(
            f"A batch holds {len(items)} queries; at most {MAX_BATCH_QUERIES} are accepted.",
            code=Code.BATCH_TOO_LARGE,
            meta={"queries": len(items), "limit": MAX_BATCH_QUERIES},
            hint="Split the work into several batches or transactions.",
        )
    tx = body.get("transaction")
    if tx is not None and not isinstance(tx, dict):
        raise QueryValidationError("`transaction` must be an object.")
    isolation = (tx or {}).get("isolationLevel")
    if isolation is not None and not isinstance(isolation, str):
        raise QueryValidationError("`transaction.isolationLevel` must be a string.")
    return Batch([parse(item) for item in items], tx is not None, isolation)


def is_batch(body: Any) -> bool:
    return isinstance(body, dict) and "batch" in body

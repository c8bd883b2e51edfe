"""`validate` and `if` rules over intermediate results, and the user-facing errors of failed validations
(the `errorIdentifier` of a `validate` node decides the Prisma code)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bwcontract.codes import Code

from ..errors import KnownRequestError
from .errors import PlanError, UnsupportedPlan


def row_count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, list):
        return len(value)
    return 1


def holds(rule: Mapping[str, Any], value: Any) -> bool:
    kind = rule.get("type")
    if kind == "rowCountEq":
        return row_count(value) == rule.get("args")
    if kind == "rowCountNeq":
        return row_count(value) != rule.get("args")
    if kind == "affectedRowCountEq":
        if isinstance(value, bool) or not isinstance(value, int):
            raise PlanError("affectedRowCountEq applies to a row count.")
        return value == rule.get("args")
    if kind == "never":
        return False
    raise UnsupportedPlan(f"Unknown data rule `{kind}`.", meta={"rule": kind})


_NOT_FOUND = "An operation failed because it depends on one or more records that were required but not found."


def error(identifier: str, context: Mapping[str, Any]) -> KnownRequestError:
    """The Prisma error a failed `validate` node raises."""
    c = {k: v for k, v in context.items() if v is not None}
    if identifier == "MISSING_RECORD":
        return KnownRequestError(
            f"{_NOT_FOUND} No record was found for {c.get('operation', 'an operation')}.",
            code=Code.RECORD_NOT_FOUND,
            meta=c,
        )
    if identifier == "MISSING_RELATED_RECORD":
        needed = f" (needed to {c['neededFor']})" if c.get("neededFor") else ""
        return KnownRequestError(
            f"{_NOT_FOUND} No '{c.get('model')}' record{needed} was found for {c.get('operation')} on "
            f"{c.get('relationType')} relation '{c.get('relation')}'.",
            code=Code.RECORD_NOT_FOUND,
            meta=c,
        )
    if identifier == "INCOMPLETE_CONNECT_INPUT":
        return KnownRequestError(
            f"{_NOT_FOUND} Expected {c.get('expectedRows')} records to be connected, found only fewer.",
            code=Code.RECORD_NOT_FOUND,
            meta=c,
        )
    if identifier == "INCOMPLETE_CONNECT_OUTPUT":
        return KnownRequestError(
            f"The required connected records were not found. Expected {c.get('expectedRows')} records to be "
            f"connected after the connect operation on {c.get('relationType')} relation "
            f"'{c.get('relation')}', found fewer.",
            code=Code.CONNECTED_RECORDS_MISSING,
            meta=c,
        )
    if identifier == "RELATION_VIOLATION":
        return KnownRequestError(
            f"The change you are trying to make would violate the required relation '{c.get('relation')}' "
            f"between the `{c.get('modelA')}` and `{c.get('modelB')}` models.",
            code=Code.REQUIRED_RELATION,
            meta=c,
        )
    if identifier == "RECORDS_NOT_CONNECTED":
        return KnownRequestError(
            f"The records for relation `{c.get('relation')}` between the `{c.get('parent')}` and "
            f"`{c.get('child')}` models are not connected.",
            code=Code.RECORDS_NOT_CONNECTED,
            meta=c,
        )
    raise UnsupportedPlan(
        f"The plan raises the validation error `{identifier}`, which this server does not know.",
        meta={"errorIdentifier": identifier},
    )

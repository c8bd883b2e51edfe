"""A program's raw result → the JSON-protocol result text of the operation.

Records are already JSON-protocol values when Postgres returns them (see `jsonsql`); what is left is the
envelope of each kind of operation, and Prisma's "not found" error for the OrThrow actions.
"""

from __future__ import annotations

from typing import Any

from ..errors import QueryValidationError
from .program import Program


def shape(compiled: Program, result: Any) -> str:
    if compiled.output == "count":
        return f'{{"count":{int(result or 0)}}}'
    if result is None:
        if compiled.or_throw is not None:
            raise compiled.or_throw.error()
        return "[]" if compiled.output == "many" else "null"
    if not isinstance(result, str):
        raise QueryValidationError("The operation produced no JSON result.")
    return result

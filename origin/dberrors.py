"""Database errors → Prisma's user-facing codes, in one place for every front.

The SQLSTATE decides the code; the fields asyncpg exposes (constraint, table, column, detail) go into
`meta` so fronts can shape it the way their client expects.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from bwcontract.codes import Code

from .errors import BreakwaterError, Forbidden, KnownRequestError

# admin_shutdown, crash_shutdown, cannot_connect_now, operator_intervention (a moving database)
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03", "57000"})
_KEY_COLUMNS = re.compile(r"Key \((?P<columns>[^)]*)\)=")


def _columns_from_detail(detail: str | None) -> list[str]:
    match = _KEY_COLUMNS.search(detail or "")
    if not match:
        return []
    return [c.strip().strip('"') for c in match["columns"].split(",")]


def database_fields(exc: asyncpg.PostgresError) -> dict[str, Any]:
    fields = {
        "sqlstate": exc.sqlstate,
        "message": getattr(exc, "message", None) or str(exc),
        "constraint": getattr(exc, "constraint_name", None),
        "table": getattr(exc, "table_name", None),
        "column": getattr(exc, "column_name", None),
        "detail": getattr(exc, "detail", None),
    }
    return {k: v for k, v in fields.items() if v is not None}


def session_ended(exc: asyncpg.PostgresError) -> bool:
    """The server ended the session (FATAL): a tenant's RAISE can use these SQLSTATEs too, but only
    at severity ERROR, and that stays the tenant's own error (a 4xx)."""
    code = exc.sqlstate or ""
    return (code.startswith("08") or code in _SESSION_ENDED) and exc.severity_en in ("FATAL", "PANIC")


def map_database_error(exc: asyncpg.PostgresError, *, raw: bool = False) -> BreakwaterError:
    """The Prisma error for `exc`. Raw queries report every failure as P2010, as Prisma does."""
    fields = database_fields(exc)
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return Forbidden(
            "This API key is read-only and cannot write.",
            hint="Create a read-write key with `breakwater key create NAME`.",
        )
    if isinstance(exc, asyncpg.QueryCanceledError):
        # statement_timeout (the database's query timeout, set for every session) or a cancel; raw
        # queries too: the client is told the query timed out, not that its SQL failed.
        return BreakwaterError("The query was cancelled (it ran too long).", code=Code.QUERY_TIMEOUT)
    if session_ended(exc):
        # Not the query's fault: the server ended the session under it (the database is moving to
        # another host, its host's agent restarted, an operator ended it). Raw queries too.
        return BreakwaterError(
            f"The database session ended during the query: {fields['message']}",
            code=Code.UPSTREAM,
            meta={"database": fields},
            hint="Retry; a write in flight may or may not have been applied.",
        )
    if raw:
        return KnownRequestError(
            f"Raw query failed. Code: `{exc.sqlstate}`. Message: `{fields['message']}`",
            code=Code.RAW_QUERY_FAILED,
            meta={"code": exc.sqlstate, "message": fields["message"], "database": fields},
        )
    if isinstance(exc, asyncpg.UniqueViolationError):
        return KnownRequestError(
            f"Unique constraint failed on the {_target_text(fields)}",
            code=Code.UNIQUE_CONSTRAINT,
            meta={
                "target": _columns_from_detail(fields.get("detail")) or fields.get("constraint"),
                "database": fields,
            },
        )
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return KnownRequestError(
            f"Foreign key constraint violated on the constraint: `{fields.get('constraint')}`",
            code=Code.FOREIGN_KEY_CONSTRAINT,
            meta={"field_name": fields.get("constraint"), "database": fields},
        )
    if isinstance(exc, asyncpg.NotNullViolationError):
        return KnownRequestError(
            f"Null constraint violation on the fields: (`{fields.get('column')}`)",
            code=Code.NULL_CONSTRAINT,
            meta={"constraint": [fields.get("column")], "database": fields},
        )
    if isinstance(exc, asyncpg.StringDataRightTruncationError):
        return KnownRequestError(
            "The provided value for the column is too long for the column's type. "
            f"Column: {fields.get('column', '(not available)')}",
            code=Code.VALUE_TOO_LONG,
            meta={"column_name": fields.get("column"), "database": fields},
        )
    # A check constraint has no code of its own in Prisma's driver adapter: it is a database error
    # (P2039, SQLSTATE 23514) like any other below.
    if isinstance(exc, asyncpg.SerializationError | asyncpg.DeadlockDetectedError):
        return KnownRequestError(
            "Transaction failed due to a write conflict or a deadlock. Please retry your transaction",
            code=Code.WRITE_CONFLICT,
            meta={"database": fields},
        )
    known = _BY_SQLSTATE.get(exc.sqlstate)
    if known is not None:
        code, template = known
        message = template.format_map(_Missing(fields))
        return KnownRequestError(message, code=code, meta={"database": fields})
    # What Prisma's executor reports for any other database error (the 6.x front turns it into the
    # unclassified error Prisma 6's engines give; see fronts/prisma6.py).
    return KnownRequestError(
        f"Database error. Code: `{exc.sqlstate}`. Message: `{fields['message']}`",
        code=Code.DATABASE_ERROR,
        meta={"code": exc.sqlstate, "database": fields},
    )


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "(not available)"


# Other SQLSTATEs Prisma's driver adapter classifies (code, message).
_BY_SQLSTATE: dict[str, tuple[Code, str]] = {
    "22003": (Code.VALUE_OUT_OF_RANGE, "Value out of range for the type: {message}"),
    "22P02": (Code.INVALID_VALUE, "Invalid input value: {message}"),
    "23001": (
        Code.FOREIGN_KEY_CONSTRAINT,
        "Foreign key constraint violated on the constraint: `{constraint}`",
    ),
    "42P01": (Code.TABLE_MISSING, "The table does not exist in the current database: {message}"),
    "42703": (Code.COLUMN_MISSING, "The column does not exist in the current database: {message}"),
    "53300": (Code.TOO_MANY_CONNECTIONS, "Too many database connections opened: {message}"),
}


def _target_text(fields: dict[str, Any]) -> str:
    columns = _columns_from_detail(fields.get("detail"))
    if columns:
        return "fields: (" + ", ".join(f"`{c}`" for c in columns) + ")"
    return f"constraint: `{fields.get('constraint')}`"

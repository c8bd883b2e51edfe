"""A session the server ended is the platform's retryable error; the same SQLSTATE raised by a
tenant's own code stays the tenant's 4xx."""

from __future__ import annotations

import asyncpg
import pytest

from origin.dberrors import map_database_error


def error(sqlstate: str, severity: str) -> asyncpg.PostgresError:
    found: asyncpg.PostgresError = asyncpg.PostgresError.new(
        {"C": sqlstate, "M": "ended", "S": severity, "V": severity}
    )
    return found


@pytest.mark.parametrize("sqlstate", ["57P01", "57P02", "57000", "08006"])
@pytest.mark.parametrize("raw", [False, True])
def test_a_session_ended_by_the_server_is_a_retryable_upstream_error(sqlstate: str, raw: bool) -> None:
    mapped = map_database_error(error(sqlstate, "FATAL"), raw=raw)
    assert (mapped.code.value, mapped.status) == ("P6008", 502) and "Retry" in (mapped.hint or "")


@pytest.mark.parametrize(("raw", "code"), [(False, "P2039"), (True, "P2010")])
def test_a_tenant_raising_the_same_sqlstate_gets_its_own_4xx(raw: bool, code: str) -> None:
    mapped = map_database_error(error("57P01", "ERROR"), raw=raw)
    assert mapped.code.value == code and 400 <= mapped.status < 500

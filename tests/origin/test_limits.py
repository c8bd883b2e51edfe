"""Where a database's limits come from (origin/limits.py): defaults from the environment, operator
overrides checked against their ranges, and the per-process cache that asks the control plane once."""

from __future__ import annotations

import asyncio

import pytest

from origin.errors import BadRequest
from origin.jsoninput import validated
from origin.limits import Limits, LimitsBook, MiB, Overrides, apply, defaults_from_env


def test_defaults_are_accelerates() -> None:
    assert defaults_from_env({}) == Limits(
        query_timeout_ms=10_000,
        transaction_timeout_ms=15_000,
        idle_in_transaction_timeout_ms=20_000,
        response_bytes=5 * MiB,
        request_bytes=10 * MiB,
        schema_bytes=2 * MiB,
        waiting_requests=1000,
    )


def test_the_environment_sets_defaults_and_refuses_nonsense() -> None:
    env = {"BREAKWATER_LIMIT_QUERY_TIMEOUT_MS": "2500", "BREAKWATER_LIMIT_RESPONSE_BYTES": ""}
    assert defaults_from_env(env) == Limits(query_timeout_ms=2500)
    with pytest.raises(ValueError, match="BREAKWATER_LIMIT_QUERY_TIMEOUT_MS='0'"):
        defaults_from_env({"BREAKWATER_LIMIT_QUERY_TIMEOUT_MS": "0"})
    with pytest.raises(ValueError, match="BREAKWATER_LIMIT_WAITING_REQUESTS"):
        defaults_from_env({"BREAKWATER_LIMIT_WAITING_REQUESTS": "many"})


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("query_timeout_ms", 100, True),
        ("query_timeout_ms", 99, False),
        ("query_timeout_ms", 3_600_000, True),
        ("query_timeout_ms", 3_600_001, False),
        ("query_timeout_ms", 1.5, False),
        ("query_timeout_ms", True, False),
        ("query_timeout_ms", "100", False),
        ("waiting_requests", 1, True),
        ("waiting_requests", 0, False),
        ("request_bytes", 32 * MiB, True),
        ("request_bytes", 32 * MiB + 1, False),
    ],
)
def test_an_override_is_a_whole_number_in_its_range(name: str, value: object, ok: bool) -> None:
    if ok:
        assert validated(Overrides, {name: value}).model_dump(exclude_unset=True) == {name: value}
    else:
        with pytest.raises(BadRequest, match=f"`{name}` must be a whole number") as refused:
            validated(Overrides, {name: value})
        assert refused.value.code == "BW1001"


def test_an_override_of_null_goes_back_to_the_default_and_an_unknown_one_is_refused() -> None:
    assert validated(Overrides, {"response_bytes": None}).model_dump(exclude_unset=True) == {
        "response_bytes": None
    }
    with pytest.raises(BadRequest, match="unknown field `query_timeout`; it takes query_timeout_ms, "):
        validated(Overrides, {"query_timeout": 100})


def test_overrides_replace_only_what_they_set() -> None:
    assert apply(Limits(), {"query_timeout_ms": 5, "response_bytes": None}) == Limits(query_timeout_ms=5)


def test_startup_settings_carry_the_timeouts_and_turn_jit_off() -> None:
    assert Limits(query_timeout_ms=1234, idle_in_transaction_timeout_ms=5678).server_settings() == {
        "statement_timeout": "1234",
        "idle_in_transaction_session_timeout": "5678",
        "jit": "off",
    }


class SlowStore:
    def __init__(self) -> None:
        self.reads = 0
        self.overrides: dict[str, int | None] = {"query_timeout_ms": 777}

    async def limit_overrides(self, database_id: str) -> dict[str, int | None]:
        self.reads += 1
        found = dict(self.overrides)  # what the database held when the read began
        await asyncio.sleep(0.01)
        return found


async def test_a_flood_of_requests_reads_a_databases_limits_once() -> None:
    store = SlowStore()
    book = LimitsBook(store, Limits(), ttl=60)
    found = await asyncio.gather(*(book.of("db") for _ in range(500)))
    assert {f.query_timeout_ms for f in found} == {777} and store.reads == 1
    await book.of("db")
    assert store.reads == 1  # cached


async def test_forgetting_reads_again_even_while_a_read_is_under_way() -> None:
    store = SlowStore()
    book = LimitsBook(store, Limits(), ttl=60)
    stale = asyncio.ensure_future(book.of("db"))
    while store.reads == 0:  # the read is under way
        await asyncio.sleep(0)
    store.overrides = {"query_timeout_ms": 888}
    book.forget("db")  # the operator changed them: what the read under way brings is not kept
    assert (await book.of("db")).query_timeout_ms == 888
    assert (await stale).query_timeout_ms == 777
    assert (await book.of("db")).query_timeout_ms == 888 and store.reads == 2

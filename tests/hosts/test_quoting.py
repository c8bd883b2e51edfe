"""The host agent's SQL quoting held against Postgres itself: whatever the string, the server reads
the quoted text back as exactly that string, and quotes it the same way wherever it quotes at all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hosts.postgres import PostgresInstance
from hosts.quoting import NAMEDATALEN, ident, literal

Server = tuple[asyncio.AbstractEventLoop, asyncpg.Connection]

# Any character Postgres can hold in text (NUL never; lone surrogates are not UTF-8).
characters = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
names = st.text(characters, min_size=1).filter(lambda s: len(s.encode()) < NAMEDATALEN)
texts = st.text(characters)


@pytest.fixture(scope="module")
def server(postgres: PostgresInstance) -> Iterator[Server]:
    loop = asyncio.new_event_loop()
    # The agent's sessions send this setting in their startup packet (bwservice.pinned).
    conn = loop.run_until_complete(
        asyncpg.connect(postgres.dsn("postgres"), server_settings={"standard_conforming_strings": "on"})
    )
    yield loop, conn
    loop.run_until_complete(conn.close())
    loop.close()


@settings(max_examples=300, deadline=None)
@given(name=names)
@example(name='Robert"; DROP ROLE postgres; --')
@example(name="select")
@example(name="é" * 31 + "x")  # 63 bytes: the longest name Postgres keeps whole
def test_an_identifier_reads_back_as_the_name_it_quotes(server: Server, name: str) -> None:
    loop, conn = server

    async def read_back() -> tuple[str, str]:
        statement = await conn.prepare(f"SELECT 1 AS {ident(name)}")
        server_quoted = await conn.fetchval("SELECT pg_catalog.quote_ident($1)", name)
        return statement.get_attributes()[0].name, server_quoted

    column, server_quoted = loop.run_until_complete(read_back())
    assert column == name
    # quote_ident leaves a name that needs no quotes bare; where it quotes, it writes what we write.
    assert ident(name) == (server_quoted if server_quoted.startswith('"') else f'"{server_quoted}"')


@settings(max_examples=300, deadline=None)
@given(text=texts)
@example(text="it's \\' OR '1'='1")
@example(text="")
def test_a_literal_reads_back_as_the_text_it_quotes(server: Server, text: str) -> None:
    loop, conn = server

    async def read_back() -> tuple[str, str]:
        value = await conn.fetchval(f"SELECT {literal(text)}::pg_catalog.text")
        server_quoted = await conn.fetchval("SELECT pg_catalog.quote_literal($1)", text)
        return value, server_quoted

    value, server_quoted = loop.run_until_complete(read_back())
    assert value == text
    if "\\" not in text:  # with a backslash, quote_literal writes E'…' and doubles it
        assert literal(text) == server_quoted


@pytest.mark.parametrize(
    "name", ["", "a\x00b", "x" * NAMEDATALEN, "é" * 32], ids=["empty", "nul", "64-ascii", "64-bytes"]
)
def test_names_postgres_cannot_hold_whole_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="SQL identifier"):
        ident(name)


def test_a_literal_with_nul_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        literal("pass\x00word")

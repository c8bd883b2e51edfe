"""Changes read from a real replication slot decode into events whose values are exactly what a query
returns for the same row (the engine's own findMany over the same table)."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwcontract.offsets import Position
from origin.capture import decode, pgoutput
from origin.capture.eventtext import InsertText, Transaction
from origin.capture.pgwire import Connection, WireError
from origin.engine import engine, request
from origin.engine.introspect import introspect
from origin.engine.schema import ScalarField

TABLE = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE sample (
  id bigserial PRIMARY KEY, small smallint, n int, big bigint, f real, d double precision,
  price numeric(12, 4), flag boolean, label text, code varchar(8), letter char(2),
  uid uuid, at timestamptz, naive timestamp(3), day date, clock time, clock_tz timetz, doc jsonb, raw json,
  blob bytea, feeling mood, tags text[], scores int[], grid int[][], stamps timestamptz[]
)"""

ROW = """
INSERT INTO sample (small, n, big, f, d, price, flag, label, code, letter, uid, at, naive, day, clock,
  clock_tz, doc, raw, blob, feeling, tags, scores, grid, stamps)
VALUES (-3, 42, 9007199254740993, 1.5, -2.25e-10, 1234.5600, true, 'quote " and \\ and ,{}',
  'ab', 'x', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29 23:59:59.123456+05',
  '2024-01-02 03:04:05.678',
  '2024-03-01', '13:14:15.5', '13:14:15+02', '{"b": [1, 2], "a": null}', '{"keep": "order"}', '\\x00ff10',
  'sad', ARRAY['a', 'b c', NULL, '"q"'], ARRAY[1, NULL, 3], ARRAY[[1, 2], [3, 4]],
  ARRAY['2024-01-01 00:00:00+00'::timestamptz]),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
"""


async def read_changes(dsn: str, slot: str, count: int, raw: list[bytes] | None = None) -> list[Any]:
    """The next `count` changes on `slot`, each with the Relation describing it (and in `raw`, each
    change's pgoutput message as it came)."""
    conn = await Connection.connect(dsn)
    found: list[Any] = []
    relations: dict[int, pgoutput.Relation] = {}
    begin: pgoutput.Begin | None = None
    try:
        await conn.start_replication(
            f'START_REPLICATION SLOT "{slot}" LOGICAL 0/0 '
            "(proto_version '1', publication_names 'everything')"
        )
        while len(found) < count:
            data = await asyncio.wait_for(conn.read_copy(), 10)
            assert data is not None
            if data[:1] != b"w":
                continue
            message = pgoutput.parse(data[25:])
            if isinstance(message, pgoutput.Relation):
                relations[message.oid] = message
            elif isinstance(message, pgoutput.Begin):
                begin = message
            elif isinstance(message, pgoutput.Insert | pgoutput.Update | pgoutput.Delete):
                assert begin is not None
                found.append((relations[message.relation_oid], message, begin))
                if raw is not None:
                    raw.append(data[25:])
            elif isinstance(message, pgoutput.Truncate):
                assert begin is not None
                found.append((tuple(relations[oid] for oid in message.relation_oids), message, begin))
    finally:
        conn.abort()
    return found


@pytest.fixture
async def sample(pg_database: str) -> Any:
    conn = await asyncpg.connect(pg_database)
    await conn.execute(TABLE)
    await conn.execute("CREATE PUBLICATION everything FOR ALL TABLES")
    await conn.execute("SELECT pg_create_logical_replication_slot('decode_test', 'pgoutput')")
    yield conn
    # The reader's socket is cut (abort); its walsender may not have noticed yet, and an active
    # slot cannot be dropped.
    for _ in range(200):
        if not await conn.fetchval("SELECT active FROM pg_replication_slots WHERE slot_name = 'decode_test'"):
            break
        await asyncio.sleep(0.05)
    await conn.execute("SELECT pg_drop_replication_slot('decode_test')")
    await conn.close()


async def test_inserted_values_decode_exactly_as_a_query_returns_them(sample: Any, pg_database: str) -> None:
    await sample.execute(ROW)
    schema = await introspect(sample)
    find_many = {
        "modelName": "sample",
        "action": "findMany",
        "query": {"arguments": {"orderBy": {"id": "asc"}}, "selection": {"$scalars": True}},
    }
    expected = (await engine.run(schema, request.parse(find_many), sample)).value()
    changes = await read_changes(pg_database, "decode_test", 2)
    events = [
        decode.event(decode.resolve(rel, schema), change, Position(begin.final_lsn, i), "t")
        for i, (rel, change, begin) in enumerate(changes)
    ]
    assert [e["created"] for e in events] == expected
    assert events[0]["modelName"] == "sample" and events[0]["action"] == "create"
    assert events[0]["offset"] == Position(changes[0][2].final_lsn, 0).offset


async def test_an_insert_written_straight_to_text_is_the_general_paths_text(
    sample: Any, pg_database: str
) -> None:
    await sample.execute(ROW)
    await sample.execute(
        "INSERT INTO sample (small, n, big, flag, label, code, letter, tags) "
        "VALUES (0, -2147483648, -9223372036854775808, false, $1, 'é', '😀', '{}')",
        'ünï \u2028 \\ " \t\n 😀',
    )
    schema = await introspect(sample)
    raw: list[bytes] = []
    changes = await read_changes(pg_database, "decode_test", 3, raw)
    when = "2024-01-02T03:04:05.678Z"
    for (relation, change, begin), data in zip(changes, raw, strict=True):
        table = decode.resolve(relation, schema)
        general = decode.event(table, change, Position(begin.final_lsn, 7), when)
        # After the message kind, the relation's oid and 'N': the new tuple.
        text = InsertText(table).event(data, 6, Transaction(begin.final_lsn, when), 7)
        assert text == json.dumps(general, separators=(",", ":"))


def test_an_insert_the_straight_path_cannot_read_is_left_to_the_general_path() -> None:
    relation = pgoutput.Relation(
        1, "public", "t", "d", (pgoutput.Column("id", 23, True), pgoutput.Column("hidden", 25, False))
    )
    table = decode.Table(relation, "T", (ScalarField("id", "id", "Int"), None), (0,))
    writes = InsertText(table)

    def tuple_of(*columns: bytes) -> bytes:
        return struct.pack("!h", len(columns)) + b"".join(columns)

    def text(value: bytes) -> bytes:
        return b"t" + struct.pack("!i", len(value)) + value

    ok = tuple_of(text(b"5"), text(b"secret"))
    assert writes.event(ok, 0, Transaction(16, "t"), 0) == (
        '{"id":"ev_10_0","offset":"0000000000000010-00000000","modelName":"T","action":"create",'
        '"created":{"id":5},"commitTime":"t"}'
    )
    assert writes.event(tuple_of(b"n", b"n"), 0, Transaction(16, "t"), 0) is not None
    for unreadable in (
        tuple_of(text(b"5")),  # fewer columns than the relation has
        tuple_of(text(b"5"), b"u"),  # unchanged TOAST (never in an insert)
        tuple_of(text(b"5"), b"b" + struct.pack("!i", 1) + b"x"),  # binary
        ok[:-2],  # ends early
        tuple_of(text(b"5"), b"t" + struct.pack("!i", -5)),
        tuple_of(text(b"\xff"), text(b"x")),  # not UTF-8
    ):
        assert writes.event(unreadable, 0, Transaction(16, "t"), 0) is None


async def test_updates_and_deletes_carry_key_images_unless_the_table_has_full_identity(
    sample: Any, pg_database: str
) -> None:
    await sample.execute("INSERT INTO sample (n, label) VALUES (1, 'one'), (2, 'two')")
    await sample.execute("UPDATE sample SET label = 'uno' WHERE n = 1")
    await sample.execute("ALTER TABLE sample REPLICA IDENTITY FULL")
    await sample.execute("UPDATE sample SET label = 'dos' WHERE n = 2")
    await sample.execute("DELETE FROM sample WHERE n = 2")
    schema = await introspect(sample)
    changes = await read_changes(pg_database, "decode_test", 5)
    events = [
        decode.event(decode.resolve(r, schema), c, Position(b.final_lsn, 0), "t") for r, c, b in changes[2:]
    ]
    key_only, full_update, full_delete = events
    one = {"$type": "BigInt", "value": "1"}
    assert (key_only["before"], key_only["after"]["label"], key_only["partial"]) == ({"id": one}, "uno", True)
    assert full_update["before"]["label"] == "two" and "partial" not in full_update
    assert full_delete["deleted"]["label"] == "dos" and "partial" not in full_delete


async def test_an_untouched_large_value_is_named_not_invented(sample: Any, pg_database: str) -> None:
    big = "".join(str(i % 97) for i in range(300_000))  # TOASTed out of line, uncompressible enough
    await sample.execute("ALTER TABLE sample ALTER COLUMN label SET STORAGE EXTERNAL")
    await sample.execute("INSERT INTO sample (n, label) VALUES (1, $1)", big)
    await sample.execute("UPDATE sample SET n = 2")
    schema = await introspect(sample)
    changes = await read_changes(pg_database, "decode_test", 2)
    created, updated = (
        decode.event(decode.resolve(r, schema), c, Position(0, 0), "t") for r, c, _ in changes
    )
    assert created["created"]["label"] == big
    assert "label" not in updated["after"] and updated["unchanged"] == ["label"]


async def test_a_wrong_password_is_refused_with_the_servers_message(pg_database: str) -> None:
    wrong = pg_database.replace("@", "x@", 1) if ":" in pg_database.split("@")[0] else pg_database
    with pytest.raises(WireError) as info:
        await Connection.connect(wrong)
    assert info.value.sqlstate == "28P01"


async def test_truncate_is_an_event_per_table_with_its_options(sample: Any, pg_database: str) -> None:
    await sample.execute("CREATE TABLE other (id int PRIMARY KEY)")
    await sample.execute("INSERT INTO sample (n) VALUES (1)")
    await sample.execute("TRUNCATE sample, other RESTART IDENTITY CASCADE")
    schema = await introspect(sample)
    (_, _, _), (relations, truncate, begin) = await read_changes(pg_database, "decode_test", 2)
    assert isinstance(truncate, pgoutput.Truncate)
    assert (truncate.cascade, truncate.restart_identity) == (True, True)
    events = [
        decode.truncate_event(decode.resolve(r, schema), truncate, Position(begin.final_lsn, i), "t")
        for i, r in enumerate(relations)
    ]
    assert [(e["modelName"], e["action"]) for e in events] == [("sample", "truncate"), ("other", "truncate")]
    assert events[0]["cascade"] is True and events[0]["restartIdentity"] is True
    assert events[0]["id"] != events[1]["id"]


def test_array_text_parses_quotes_escapes_nulls_and_nesting() -> None:
    assert decode.parse_array('{a,"b c",NULL,"\\"q\\"","NULL"}') == ["a", "b c", None, '"q"', "NULL"]
    assert decode.parse_array("{{1,2},{3,4}}") == [["1", "2"], ["3", "4"]]
    assert decode.parse_array("[0:1]={7,8}") == ["7", "8"]
    assert decode.parse_array("{}") == []


@given(st.binary(max_size=64))
def test_pgoutput_parsing_of_arbitrary_bytes_fails_only_with_protocol_errors(data: bytes) -> None:
    try:
        pgoutput.parse(data)
    except (pgoutput.ProtocolError, UnicodeDecodeError, struct.error):
        pass


@given(st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=5))
def test_arrays_of_text_round_trip_through_postgres_text_format(items: list[str | None]) -> None:
    def quoted(item: str | None) -> str:
        if item is None:
            return "NULL"
        return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'

    assert decode.parse_array("{" + ",".join(quoted(i) for i in items) + "}") == items

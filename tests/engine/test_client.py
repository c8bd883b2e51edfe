"""The Python client (`from breakwater import Client`) against the stack: model accessors with every
operation, batch and interactive transactions, raw SQL, and Python values in and out."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import subprocess
import sys

import pytest

from breakwater import Client, Json, QueryError
from bwdev.stack import Stack
from tests.conftest import create_tenant
from tests.engine.conftest import RICH_SQL
from tests.prisma6.conftest import run_script

pytestmark = pytest.mark.e2e

NOW = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)


async def test_the_python_client_covers_every_operation(stack: Stack) -> None:
    tenant = create_tenant(stack, "pyclient")
    await run_script(tenant.dsn, RICH_SQL)
    async with Client(tenant.url) as db:
        ada = await db.users.create(
            data={
                "email": "ada@x.io",
                "updated_at": NOW,
                "Post": {
                    "create": [
                        {
                            "title": "Engines",
                            "price": decimal.Decimal("1.50"),
                            "meta": Json({"a": [1]}),
                            "blob": b"hi",
                            "tags": ["x"],
                        }
                    ]
                },
            },
            include={
                "Post": {"select": {"title": True, "price": True, "meta": True, "blob": True, "tags": True}}
            },
        )
        assert ada["Post"] == [
            {
                "title": "Engines",
                "price": decimal.Decimal("1.5"),
                "meta": {"a": [1]},
                "blob": b"hi",
                "tags": ["x"],
            }
        ]
        assert ada["updated_at"] == NOW
        assert (
            await db.users.create_many(
                data=[{"email": "bob@x.io", "updated_at": NOW}, {"email": "cy@x.io", "updated_at": NOW}]
            )
            == 2
        )
        assert await db.users.count() == 3
        assert await db.users.find_unique(where={"email": "bob@x.io"}, select={"email": True}) == {
            "email": "bob@x.io"
        }
        assert await db.users.find_many(
            where={"email": {"endsWith": "x.io"}}, order_by={"email": "desc"}, take=2, select={"email": True}
        ) == [
            {"email": "cy@x.io"},
            {"email": "bob@x.io"},
        ]
        assert await db.users.find_first(where={"Post": {"some": {}}}, select={"email": True}) == {
            "email": "ada@x.io"
        }
        updated = await db.users.update(
            where={"email": "bob@x.io"}, data={"name": "Bob"}, select={"name": True}
        )
        assert updated == {"name": "Bob"}
        assert await db.users.update_many(where={"name": None}, data={"name": "?"}) == 2
        upserted = await db.Category.upsert(
            where={"name": "x"}, create={"name": "x"}, update={}, select={"name": True}
        )
        assert upserted == {"name": "x"}
        assert await db.Post.aggregate(_count=True, _sum={"price": True}) == {
            "_count": {"_all": 1},
            "_sum": {"price": decimal.Decimal("1.5")},
        }
        grouped = await db.users.group_by(by=["name"], _count={"_all": True}, order_by={"name": "asc"})
        assert grouped == [{"name": "?", "_count": {"_all": 2}}, {"name": "Bob", "_count": {"_all": 1}}]
        deleted = await db.users.delete(where={"email": "cy@x.io"}, select={"email": True})
        assert deleted == {"email": "cy@x.io"}
        assert await db.users.delete_many(where={"email": "nobody"}) == 0
        with pytest.raises(QueryError) as info:
            await db.users.find_unique_or_throw(where={"email": "cy@x.io"})
        assert info.value.code == "P2025"
        with pytest.raises(QueryError) as info:
            await db.users.create(data={"email": "ada@x.io", "updated_at": NOW})
        assert (info.value.status, info.value.code) == (400, "P2002")

        # A batch transaction: all or nothing.
        made, count = await db.tx(db.Category.create(data={"name": "y"}), db.Category.count())
        assert (made["name"], count) == ("y", 2)
        with pytest.raises(QueryError):
            await db.tx(db.Category.create(data={"name": "z"}), db.Category.create(data={"name": "y"}))
        assert await db.Category.count(where={"name": "z"}) == 0

        # Interactive transactions: commit at the end of the block, roll back on an exception.
        async with db.transaction() as tx:
            await tx.Category.create(data={"name": "in-tx"})
            assert await tx.Category.count(where={"name": "in-tx"}) == 1
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.Category.create(data={"name": "rolled-back"})
                raise RuntimeError("no")
        names = await db.Category.find_many(order_by={"name": "asc"}, select={"name": True})
        assert [c["name"] for c in names] == ["in-tx", "x", "y"]

        rows = await db.query_raw(
            'SELECT name, $1::timestamptz AS at FROM "Category" WHERE name = $2', NOW, "x"
        )
        assert rows == [{"name": "x", "at": "2024-05-06T07:08:09.123+00:00"}]
        assert await db.execute_raw('UPDATE "Category" SET name = $1 WHERE name = $2', "xx", "x") == 1


# What only the services need: the client must import and run without any of it installed.
SERVER_ONLY = {
    "starlette",
    "uvicorn",
    "asyncpg",
    "pydantic",
    "aiohttp",
    "origin",
    "hosts",
    "bwedge",
    "bwservice",
    "bwdev",
    "edge_local",
}
CLIENT_ALONE = """
import asyncio, json, sys
from breakwater import Client

async def main(url):
    async with Client(url) as db:
        await db.notes.create(data={"body": "alone"})
        async with db.transaction() as tx:
            await tx.notes.count()
        await db.query_raw("SELECT 1 AS one")

asyncio.run(main(sys.argv[1]))
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
"""


async def test_the_client_imports_nothing_of_the_server(stack: Stack) -> None:
    tenant = create_tenant(stack, "alone")
    await run_script(tenant.dsn, "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
    result = subprocess.run(
        [sys.executable, "-c", CLIENT_ALONE, tenant.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    assert "breakwater" in imported and "httpx" in imported
    assert not imported & SERVER_ONLY

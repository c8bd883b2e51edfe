"""One host down makes only its own databases unavailable, with a clear error and soon (never a
hang); its agent back, they serve again with nothing lost."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bwdev.stack import Stack

from .conftest import FIND_MANY, make_database

pytestmark = pytest.mark.e2e


async def test_a_dead_hosts_databases_fail_fast_with_bw3010_while_the_others_serve(two_hosts: Stack) -> None:
    alive, doomed = make_database(two_hosts, host="local"), make_database(two_hosts, host="h2")
    for db in (alive, doomed):
        await db.sql("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        await db.sql("INSERT INTO notes (body) VALUES ('kept')")
    async with httpx.AsyncClient(base_url=two_hosts.edge_url, timeout=60) as edge:

        async def read(db_key: str) -> tuple[httpx.Response, float]:
            began = time.monotonic()
            response = await edge.post(f"/v1/query?api_key={db_key}", json=FIND_MANY)
            return response, time.monotonic() - began

        for db in (alive, doomed):
            assert (await read(db.api_key))[0].status_code == 200  # both pools hold connections now
        await asyncio.to_thread(two_hosts.stop_service, two_hosts.host_service("h2"), True)
        try:
            for _ in range(3):
                response, took = await read(doomed.api_key)
                assert response.status_code == 503, response.text
                body = response.json()
                assert body["code"] == "BW3010" and body["meta"]["host"] == "h2"
                assert response.headers["retry-after"] == "2"
                assert took < 10  # BREAKWATER_POOL_UNREACHABLE_SECONDS is 1 here; never the 60s timeout
                response, _ = await read(alive.api_key)
                assert response.status_code == 200 and response.json()["data"] == [{"id": 1, "body": "kept"}]
        finally:
            await asyncio.to_thread(two_hosts.start_service, two_hosts.host_service("h2"))
        # The agent is back (its instances kept running): the database serves what it held.
        for _ in range(50):
            response, _ = await read(doomed.api_key)
            if response.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert response.status_code == 200 and response.json()["data"] == [{"id": 1, "body": "kept"}]

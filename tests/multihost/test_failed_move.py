"""A move that cannot finish is undone: the database serves from where it was, with its data, and
the move's record says why."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bwdev.stack import Stack

from .conftest import FIND_MANY, host_of, make_database

pytestmark = pytest.mark.e2e


async def test_a_move_to_a_host_that_went_down_is_undone_and_the_database_keeps_serving(
    two_hosts: Stack,
) -> None:
    db = make_database(two_hosts, host="local")
    await db.sql("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
    await db.sql("INSERT INTO notes (body) VALUES ('stays')")
    h2 = two_hosts.host_service("h2")
    await asyncio.to_thread(two_hosts.stop_service, h2, True)
    try:
        async with httpx.AsyncClient(base_url=two_hosts.origin_url, timeout=60) as origin:
            response = await origin.post(
                f"/admin/databases/{db.name}/move",
                json={"host": "h2"},
                headers={"authorization": f"Bearer {two_hosts.secrets['admin_token']}"},
            )
        assert response.status_code == 503 and response.json()["code"] == "BW3010", response.text
        assert response.json()["meta"]["host"] == "h2"
    finally:
        await asyncio.to_thread(two_hosts.start_service, h2)
    assert host_of(two_hosts, db.name) == "local"
    async with httpx.AsyncClient(base_url=two_hosts.edge_url, timeout=60) as edge:
        served = await edge.post(f"/v1/query?api_key={db.api_key}", json=FIND_MANY)
    assert served.status_code == 200 and served.json()["data"] == [{"id": 1, "body": "stays"}]
    # The target could not be told to drop what it may hold; with its agent back, the origins'
    # recovery loop finishes the undo.
    for _ in range(300):
        moves = two_hosts.admin("GET", "/admin/hosts/local")["moves"]
        failed = next(m for m in moves if m["database"] == db.name)
        if failed["step"] == "undone":
            break
        await asyncio.sleep(0.2)
    assert failed["state"] == "failed" and failed["step"] == "undone" and "h2" in failed["error"], failed

"""The host agent's HTTP API: the token, provisioning, life-cycle actions and figures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hosts.agent import Agent, create_app
from tests.hosts.conftest import fetch, new_id


@pytest.fixture
async def http(agent: Agent) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(agent=agent))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://agent", headers={"authorization": "Bearer agent-token"}
    ) as client:
        yield client


async def test_every_route_but_health_needs_the_token(http: httpx.AsyncClient, agent: Agent) -> None:
    health = await http.get("/health", headers={"authorization": ""})
    assert health.json() == {
        "status": "ok",
        "host": "local",
        "proxy": f"127.0.0.1:{agent.fleet.proxy_port}",
        "freezer": agent.fleet.freezer.kind,
        "copy": agent.fleet.copy_mode,
        "instance": agent.settings.instance_id,
        "registered": False,  # this agent is given no origins to register with
    }
    for method, path in [
        ("GET", "/databases"),
        ("POST", "/databases"),
        ("GET", "/instances"),
        ("POST", "/databases/import"),
        ("POST", "/databases/db1/fence"),
        ("GET", "/databases/db1/export"),
        ("POST", "/databases/db1/release"),
    ]:
        refused = await http.request(method, path, headers={"authorization": "Bearer wrong"})
        assert (refused.status_code, refused.json()) == (
            401,
            {"code": "BW2002", "message": "The host agent token is missing or wrong."},
        )


async def test_a_database_is_provisioned_acted_on_listed_and_dropped(http: httpx.AsyncClient) -> None:
    database_id = new_id()
    made = await http.post("/databases", json={"id": database_id, "placement": "dedicated"})
    assert made.status_code == 201
    body = made.json()
    assert (body["host"], body["instance"], body["placement"]) == ("local", f"d-{database_id}", "dedicated")
    assert await fetch(body["dsn"], "SELECT 1") == 1

    paused = await http.post(f"/databases/{database_id}/pause")
    assert (paused.status_code, paused.json()["state"], paused.json()["frozen"]) == (200, "paused", True)
    listed = (await http.get("/databases")).json()["databases"]
    assert {
        "id": database_id,
        "placement": "dedicated",
        "instance": f"d-{database_id}",
        "state": "paused",
    }.items() <= next(d for d in listed if d["id"] == database_id).items()
    hibernated = await http.post(f"/instances/d-{database_id}/hibernate")
    assert (hibernated.json()["state"], hibernated.json()["processes"]) == ("hibernated", 0)
    started = await http.post(f"/databases/{database_id}/start")
    assert started.json()["state"] == "running"

    one = (await http.get(f"/instances/d-{database_id}")).json()
    assert one["disk_bytes"] > 1_000_000 and one["memory_pss_kb"] > 0 and one["processes"] >= 4
    everything = (await http.get("/instances")).json()
    assert everything["host"]["freezer"] in ("cgroup2", "cgroup1", "signals")
    assert any(i["name"] == f"d-{database_id}" for i in everything["instances"])

    dropped = await http.delete(f"/databases/{database_id}")
    assert (dropped.status_code, dropped.json()) == (200, {"dropped": database_id})
    again = await http.delete(f"/databases/{database_id}")
    assert (again.status_code, again.json()) == (
        404,
        {"code": "BW1404", "message": f"there is no database {database_id!r} on this host"},
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"id": "NOT OK", "placement": "shared"}, 400, "invalid database id 'NOT OK'"),
        ({"id": "ok1", "placement": "moon"}, 400, "placement is 'shared' or 'dedicated', not 'moon'"),
        ([1, 2], 400, "The request body must be a JSON object."),
    ],
)
async def test_bad_provisioning_requests_are_refused_clearly(
    http: httpx.AsyncClient, body: object, status: int, message: str
) -> None:
    refused = await http.post("/databases", json=body)
    assert refused.status_code == status
    assert refused.json()["code"] == "BW1001" and refused.json()["message"].startswith(message)


async def test_an_unknown_instance_is_a_404(http: httpx.AsyncClient) -> None:
    missing = await http.post("/instances/d-nothing/pause")
    assert (missing.status_code, missing.json()) == (
        404,
        {"code": "BW1404", "message": "there is no instance 'd-nothing' on this host"},
    )

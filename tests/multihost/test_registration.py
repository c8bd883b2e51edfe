"""Host agents register with the control plane (registration token), bind their own agent token,
and report what they hold; new databases go where there is room, or where the operator says."""

from __future__ import annotations

import httpx
import pytest

from bwdev.stack import Stack

from .conftest import host_of, make_database

pytestmark = pytest.mark.e2e


def report(stack: Stack, registration: str, **changes: object) -> httpx.Response:
    body = {
        "id": "h2",
        "url": stack.host_url("h2"),
        "token": stack.host_token("h2"),
        "proxy": "127.0.0.1:1",
        "capacity": {},
        **changes,
    }
    return httpx.post(
        f"{stack.origin_url}/_bw/hosts/report", json=body, headers={"authorization": f"Bearer {registration}"}
    )


def test_both_agents_registered_and_report_their_capacity(two_hosts: Stack) -> None:
    hosts = {h["id"]: h for h in two_hosts.admin("GET", "/admin/hosts")["hosts"]}
    assert set(hosts) == {"local", "h2"}
    for host_id, host in hosts.items():
        assert host["state"] == "active" and host["reachable"] and host["url"] == two_hosts.host_url(host_id)
        capacity = host["capacity"]
        assert capacity["memory_total_kb"] >= capacity["memory_available_kb"] > 0
        assert capacity["disk_total_bytes"] >= capacity["disk_free_bytes"] > 0
        assert capacity["instances"] >= 1  # the shared cluster
    assert hosts["local"]["proxy"] != hosts["h2"]["proxy"]


def test_a_report_with_a_wrong_registration_token_is_refused(two_hosts: Stack) -> None:
    response = report(two_hosts, "not-the-registration-token")
    assert response.status_code == 401
    assert response.json()["code"] == "BW2002" and response.headers["prisma-error-code"] == "BW2002"


def test_a_known_host_id_cannot_be_taken_with_another_agent_token(two_hosts: Stack) -> None:
    response = report(two_hosts, two_hosts.secrets["registration_token"], token="an-impostor's-token-1234")
    assert response.status_code == 409 and response.json()["code"] == "BW2013"
    # The real agent's record is untouched: its proxy and token still serve.
    h2 = next(h for h in two_hosts.admin("GET", "/admin/hosts")["hosts"] if h["id"] == "h2")
    assert h2["proxy"] != "127.0.0.1:1"


def test_new_databases_spread_over_the_hosts_and_the_operator_may_name_one(two_hosts: Stack) -> None:
    placed = {host_of(two_hosts, make_database(two_hosts).name) for _ in range(2)}
    assert placed == {"local", "h2"}  # equal room: the one holding fewer databases gets the next
    for host in ("h2", "h2", "local"):
        assert host_of(two_hosts, make_database(two_hosts, host=host).name) == host


def test_a_cordoned_host_takes_no_new_databases_unless_uncordoned(two_hosts: Stack) -> None:
    two_hosts.admin("POST", "/admin/hosts/h2/cordon")
    try:
        assert {host_of(two_hosts, make_database(two_hosts).name) for _ in range(2)} == {"local"}
        response = httpx.post(
            f"{two_hosts.origin_url}/admin/databases",
            json={"name": "on-cordoned", "host": "h2"},
            headers={"authorization": f"Bearer {two_hosts.secrets['admin_token']}"},
        )
        assert response.status_code == 409 and response.json()["code"] == "BW1410"
    finally:
        two_hosts.admin("POST", "/admin/hosts/h2/uncordon")
    assert host_of(two_hosts, make_database(two_hosts, host="h2").name) == "h2"


def test_a_malformed_report_or_an_unknown_host_gets_a_4xx_with_a_code(two_hosts: Stack) -> None:
    registration = two_hosts.secrets["registration_token"]
    for changes in ({"id": "H2/../x"}, {"url": "ftp://x"}, {"proxy": "no-port"}, {"capacity": {"disk": "x"}}):
        response = report(two_hosts, registration, **changes)
        assert (response.status_code, response.json()["code"]) == (400, "BW1001"), changes
    headers = {"authorization": f"Bearer {two_hosts.secrets['admin_token']}"}
    for path in ("/admin/hosts/nowhere", "/admin/hosts/nowhere/drain"):
        response = httpx.request(
            "GET" if path.count("/") == 3 else "POST", two_hosts.origin_url + path, headers=headers
        )
        assert (response.status_code, response.json()["code"]) == (404, "BW1404"), path

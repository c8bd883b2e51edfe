"""A stack of its own with two host agents ("local" and "h2"), for what one host cannot show:
registration, placement across hosts, draining, a host going down. Started once for this package;
tests leave both hosts active and running when they end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bwdev.stack import Stack, StackConfig
from tests.conftest import TenantDatabase, create_tenant

FIND_MANY = {
    "modelName": "notes",
    "action": "findMany",
    "query": {"arguments": {}, "selection": {"$scalars": True}},
}


@pytest.fixture(scope="package")
def two_hosts(session_dir: Path) -> Iterator[Stack]:
    with Stack(
        StackConfig(
            root=session_dir / "two-hosts",
            durable=False,
            hosts=2,
            extra_env={
                "BREAKWATER_HOSTS_REPORT_SECONDS": "0.5",
                "BREAKWATER_HOSTS_STALE_SECONDS": "3",
                "BREAKWATER_POOL_UNREACHABLE_SECONDS": "1",
                "BREAKWATER_HOSTS_SPARES": "0",
            },
        )
    ) as running:
        yield running


def make_database(stack: Stack, host: str | None = None, placement: str = "shared") -> TenantDatabase:
    return create_tenant(stack, "mh", placement=placement, **({"host": host} if host else {}))


def host_of(stack: Stack, name: str) -> str:
    found: str = stack.admin("GET", f"/admin/databases/{name}")["database"]["host"]
    return found

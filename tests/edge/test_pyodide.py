"""The edge under real Pyodide (npm `pyodide` 0.28, Python 3.13, as in Cloudflare Python Workers):
every module imports with no host-only dependency, and the Worker shell serves a request."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def smoke() -> dict:  # type: ignore[type-arg]
    result = subprocess.run(
        ["node", str(PROJECT_ROOT / "tests/edge/pyodide_smoke.mjs"), str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_it_is_the_workers_python(smoke: dict) -> None:  # type: ignore[type-arg]
    assert smoke["core"]["version"].startswith("3.13.")


def test_every_edge_module_imports_under_pyodide(smoke: dict) -> None:  # type: ignore[type-arg]
    on_disk = []
    for package in ("bwcontract", "bwedge"):
        root = PROJECT_ROOT / "edge" / package
        on_disk += [
            f"{package}."
            + (p.parent if p.name == "__init__.py" else p.with_suffix(""))
            .relative_to(root)
            .as_posix()
            .replace("/", ".")
            for p in root.rglob("*.py")
            if p != root / "__init__.py"
        ]
    assert sorted(smoke["imported"]) == sorted(on_disk)


def test_the_pure_core_runs(smoke: dict) -> None:  # type: ignore[type-arg]
    assert smoke["core"] == {**smoke["core"], "key_round_trip": True, "route": "prisma7"}


def test_the_worker_shell_forwards_a_good_request_signed(smoke: dict) -> None:  # type: ignore[type-arg]
    shell = smoke["shell"]
    assert shell["ok_status"] == 200
    assert shell["forwarded_path"] == "/query" and shell["forwarded_body"] == '{"x":1}'
    assert shell["signed"] and shell["key_kept_at_edge"]
    assert shell["origin_header_returned"] == "origin"


def test_the_worker_shell_refuses_bad_and_revoked_keys(smoke: dict) -> None:  # type: ignore[type-arg]
    shell = smoke["shell"]
    assert (shell["bad_status"], shell["bad_code"]) == (401, "P6002")
    assert shell["revoked_status"] == 401
    assert shell["do_sql_adapter"] == [True, False]


def test_the_worker_shell_caches_through_the_cache_api_and_tag_versions_objects(smoke: dict) -> None:  # type: ignore[type-arg]
    cache = smoke["shell"]["cache"]
    [(url, cache_control)] = cache.pop("puts")
    assert url.startswith("https://edge.test/_bw/cache/") and len(url.rsplit("/", 1)[1]) == 64
    assert cache_control == "max-age=60"
    assert cache == {
        "miss_then_hit": ["miss", "ttl"],
        "hit_body_is_the_origins": True,
        "origin_calls": 1,
        "invalidate_status": 200,
        "after_invalidate": "miss",
        "after_hit": "ttl",
        "write_status": 200,
        "after_write": "miss",  # the write bumped Post in the TagVersions object
        "tx_write": 200,
        "after_tx_write": "ttl",  # held until the commit
        "tx_commit": 200,
        "after_commit": "miss",
        "swr": ["miss", "swr"],
        "swr_refreshed_in_background": 2,  # the miss, then the refresh run through ctx.waitUntil
        "do_versions": {"t:a": 1},
    }


def test_the_worker_hands_a_stream_upgrade_to_the_databases_queue(smoke: dict) -> None:  # type: ignore[type-arg]
    queue = smoke["queue"]
    assert (queue["stream_status"], queue["stream_from_queue"]) == (200, "db1")
    assert queue["stream_handed_to"] == ["db1", "websocket", {"id": {"gt": 1}}, "key2"]
    assert queue["plain_get_status"] == 426


def test_the_worker_stores_signed_event_batches_and_tells_listeners(smoke: dict) -> None:  # type: ignore[type-arg]
    queue = smoke["queue"]
    assert (queue["push_status"], queue["push_answer"], queue["push_reached_queue"]) == (200, 1, ["db1"])
    assert queue["change_listener"] == [["db1", ["users"]]]
    assert queue["unsigned_push_status"] == 401
    assert queue["revocation_status"] == 200
    assert queue["revocation_reached_queue"] == [["db1", ["key2"], False]]  # its streams close
    assert queue["r2_round_trip"] == ['{"big":true}', None] and queue["r2_deleted"]


def test_the_event_queue_object_runs_its_hibernation_handlers(smoke: dict) -> None:  # type: ignore[type-arg]
    queue = smoke["queue"]
    assert queue["do_upgrade"] == [101, "client", "server", 16]
    assert queue["do_ready"] == "ready"
    assert queue["do_append"] == [1, ["users"], True]
    assert queue["do_bad_batch"] and queue["do_sql_ran"]
    assert queue["do_revoke"] == [0, True]

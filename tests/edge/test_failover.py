"""The edge balances over its origins and fails over (bwedge/origins.py, bwedge/dispatch.py): load
goes to the healthy origin with the fewest requests in flight; a request that never reached an origin
goes to another, signed again for it; a write that may have reached one is never sent twice (BW3101);
a read is; a transaction stays on its origin (P2028 when it is gone); a down origin is probed before it
gets requests again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bwcontract import keys, service, usage, wire
from bwedge.app import EdgeApp
from bwedge.config import EdgeConfig
from bwedge.dispatch import repeatable
from bwedge.http import EdgeRequest, EdgeResponse, Headers
from bwedge.origins import OriginSet
from bwedge.ports import OriginUnreachable
from bwedge.revocation import RevocationStore, RevocationView
from bwedge.routes import classify
from tests.edge.test_revocation import Clock, CountingPort, MemorySql

KEY_SECRET = "k" * 32
SERVICE_SECRET = "s" * 32
TOKEN = keys.mint(keys.KeyClaims("key1", "ws1", "db1", "alpha", "read-write"), KEY_SECRET.encode())
READ = json.dumps({"modelName": "User", "action": "findMany", "query": {"selection": {"$scalars": True}}})
WRITE = json.dumps({"modelName": "User", "action": "createOne", "query": {"arguments": {"data": {}}}})

Behaviour = Callable[[], Awaitable[EdgeResponse]]


def answer(status: int = 200, code: str | None = None) -> Behaviour:
    async def run() -> EdgeResponse:
        headers = {"Prisma-Error-Code": code} if code else {}
        return EdgeResponse.json(status, {"code": code} if code else {"data": []}, headers)

    return run


def unreachable(delivered: bool) -> Behaviour:
    async def run() -> EdgeResponse:
        raise OriginUnreachable("refused" if not delivered else "reset mid-answer", delivered)

    return run


class Origins:
    """Each origin does what its script says (the last entry repeats); every attempt is recorded."""

    def __init__(self, **scripts: list[Behaviour]) -> None:
        self.scripts = scripts
        self.attempts: list[tuple[str, str, Headers]] = []

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        assert origin_id is not None
        self.attempts.append((origin_id, target, headers))
        script = self.scripts[origin_id]
        step = script.pop(0) if len(script) > 1 else script[0]
        return await step()

    def tried(self) -> list[str]:
        return [origin_id for origin_id, target, _ in self.attempts if target != "/_bw/health"]


class Background:
    def __init__(self) -> None:
        self.tasks: list[asyncio.Future[Any]] = []

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        self.tasks.append(asyncio.ensure_future(awaitable))

    async def drain(self) -> None:
        await asyncio.gather(*self.tasks)
        self.tasks.clear()


def make(origins: Origins) -> tuple[EdgeApp, Clock]:
    clock = Clock()
    config = EdgeConfig.from_env(
        {
            "KEY_SECRET": KEY_SECRET,
            "SERVICE_SECRET": SERVICE_SECRET,
            "ORIGINS": json.dumps({name: f"http://{name}" for name in origins.scripts}),
        }
    )
    revocations = RevocationView(CountingPort(RevocationStore(MemorySql(), clock)), clock, ttl=5)
    return EdgeApp(config, origins, revocations, clock), clock


def query(body: str, path: str = "/v1/query") -> EdgeRequest:
    return EdgeRequest(
        "POST", f"http://edge.test{path}", Headers({"authorization": f"Bearer {TOKEN}"}), body.encode()
    )


def signed_for(origin_id: str, attempt: tuple[str, str, Headers], body: str, clock: Clock) -> bool:
    _, target, headers = attempt
    try:
        service.verify(
            headers[service.HEADER],
            [SERVICE_SECRET.encode()],
            service.origin_audience(origin_id),
            "POST",
            target,
            body.encode(),
            clock(),
        )
    except service.InvalidServiceSignature:
        return False
    return True


async def test_load_spreads_over_the_origins_by_requests_in_flight() -> None:
    release = asyncio.Event()

    async def slow() -> EdgeResponse:
        await release.wait()
        return EdgeResponse.json(200, {"data": []})

    origins = Origins(o1=[slow], o2=[slow], o3=[slow])
    app, _ = make(origins)
    pending = [asyncio.ensure_future(app.handle(query(READ), Background())) for _ in range(30)]
    await asyncio.sleep(0.01)
    assert sorted(origins.tried().count(o) for o in ("o1", "o2", "o3")) == [10, 10, 10]
    release.set()
    assert {r.status for r in await asyncio.gather(*pending)} == {200}
    # One after another (nothing in flight), they go round in turn.
    origins.attempts.clear()
    for _ in range(6):
        await app.handle(query(READ), Background())
    assert sorted(origins.tried()) == ["o1", "o1", "o2", "o2", "o3", "o3"]


async def test_a_write_that_never_reached_an_origin_goes_to_another_signed_for_it() -> None:
    origins = Origins(o1=[unreachable(delivered=False)], o2=[answer()], o3=[answer()])
    app, clock = make(origins)
    app.origins.order = lambda exclude=(): ["o1", "o2", "o3"]  # type: ignore[method-assign]
    response = await app.handle(query(WRITE), Background())
    assert response.status == 200
    first, second = origins.attempts
    assert (first[0], second[0]) == ("o1", "o2")
    assert signed_for("o1", first, WRITE, clock) and signed_for("o2", second, WRITE, clock)
    assert not signed_for("o2", first, WRITE, clock)  # each signature names its own origin
    assert app.origins.figures() == {"o1": "down", "o2": "up", "o3": "up"}


async def test_a_write_that_may_have_reached_an_origin_is_never_sent_twice() -> None:
    origins = Origins(o1=[unreachable(delivered=True)], o2=[answer()])
    app, _ = make(origins)
    app.origins.order = lambda exclude=(): ["o1", "o2"]  # type: ignore[method-assign]
    response = await app.handle(query(WRITE), Background())
    assert origins.tried() == ["o1"]
    assert response.status == 503
    assert response.headers["Prisma-Error-Code"] == "BW3101"
    body = json.loads(response.body)
    assert body["code"] == "BW3101" and "may or may not have run" in body["message"]


async def test_a_read_that_may_have_reached_an_origin_is_read_again_elsewhere() -> None:
    origins = Origins(o1=[unreachable(delivered=True)], o2=[answer()])
    app, _ = make(origins)
    app.origins.order = lambda exclude=(): ["o1", "o2"]  # type: ignore[method-assign]
    response = await app.handle(query(READ), Background())
    assert (response.status, origins.tried()) == (200, ["o1", "o2"])


@pytest.mark.parametrize(
    "refusal",
    [answer(401, "BW2011"), answer(503, "BW2012"), answer(521), answer(522), answer(523)],
    ids=["signed-before-start", "replay-guard-full", "cf-521", "cf-522", "cf-523"],
)
async def test_an_answer_that_says_nothing_ran_sends_the_request_on(refusal: Behaviour) -> None:
    origins = Origins(o1=[refusal], o2=[answer()])
    app, clock = make(origins)
    app.origins.order = lambda exclude=(): ["o1", "o2"]  # type: ignore[method-assign]
    response = await app.handle(query(WRITE), Background())
    assert (response.status, origins.tried()) == (200, ["o1", "o2"])
    assert signed_for("o2", origins.attempts[1], WRITE, clock)


async def test_a_transaction_stays_on_its_origin_and_fails_cleanly_when_it_is_gone() -> None:
    origins = Origins(o1=[answer()], o2=[unreachable(delivered=False)], o3=[answer()])
    app, _ = make(origins)
    path = "/v1/transaction/o2~" + "a" * 32 + "/query"
    response = await app.handle(query(WRITE, path), Background())
    assert origins.tried() == ["o2"]
    assert response.status == 409
    body = json.loads(response.body)
    assert body["code"] == "P2028" and "o2 holding this transaction cannot be reached" in body["message"]
    # A new signature (its origin restarted in the second it was signed) is tried once more, there.
    origins.scripts["o2"] = [answer(401, "BW2011"), answer()]
    origins.attempts.clear()
    response = await app.handle(query(WRITE, path), Background())
    assert (response.status, origins.tried()) == (200, ["o2", "o2"])


async def test_when_every_origin_fails_the_answer_names_them_all_and_nothing_ran() -> None:
    origins = Origins(o1=[unreachable(delivered=False)], o2=[unreachable(delivered=False)])
    app, _ = make(origins)
    response = await app.handle(query(WRITE), Background())
    assert response.status == 502
    body = json.loads(response.body)
    assert body["code"] == "P6000" and "did not run" in body["message"]
    assert "o1: refused" in body["message"] and "o2: refused" in body["message"]
    # Every origin is down now, yet the next request still tries them: this view may be stale.
    origins.scripts["o2"] = [answer()]
    assert (await app.handle(query(WRITE), Background())).status == 200


async def test_a_down_origin_gets_requests_again_only_after_a_probe_answered() -> None:
    origins = Origins(o1=[unreachable(delivered=False)], o2=[answer()])
    app, clock = make(origins)
    background = Background()
    for _ in range(2):  # one of them goes to o1 first (they go round in turn) and on to o2
        assert (await app.handle(query(READ), background)).status == 200
    assert app.origins.figures() == {"o1": "down", "o2": "up"}
    origins.scripts["o1"] = [answer()]  # it is back, but nobody knows yet
    for _ in range(4):
        await app.handle(query(READ), background)
    assert origins.tried().count("o1") == 1 and background.tasks == []  # no probe before its time
    clock.now += 1.0
    await app.handle(query(READ), background)
    assert len(background.tasks) == 1  # a probe, in the background
    await background.drain()
    assert origins.attempts[-1][1] == "/_bw/health"
    assert app.origins.figures() == {"o1": "up", "o2": "up"}
    origins.attempts.clear()
    for _ in range(4):
        await app.handle(query(READ), background)
    assert sorted(origins.tried()) == ["o1", "o1", "o2", "o2"]


def test_a_probe_that_fails_keeps_the_origin_down_twice_as_long() -> None:
    clock = Clock()
    origins = OriginSet(["o1", "o2"], clock, down_seconds=1.0, max_down_seconds=3.0)
    origins.failed("o1")
    assert origins.due_probes() == []
    clock.now += 1.0
    assert origins.due_probes() == ["o1"]
    assert origins.due_probes() == []  # one probe at a time
    origins.probed("o1", answered=False)
    clock.now += 1.0
    assert origins.due_probes() == []
    clock.now += 1.0
    assert origins.due_probes() == ["o1"]
    origins.probed("o1", answered=False)
    clock.now += 3.0  # never longer than max_down_seconds
    assert origins.due_probes() == ["o1"]
    assert origins.order() == ["o2", "o1"]  # up first, then down ones, still tried


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", "/v1/query", READ, True),
        ("POST", "/v1/query", WRITE, False),
        ("POST", "/v1/query", json.dumps({"batch": [json.loads(READ), json.loads(READ)]}), True),
        ("POST", "/v1/query", json.dumps({"batch": [json.loads(READ), json.loads(WRITE)]}), False),
        ("POST", "/v1/query", json.dumps({"modelName": "User", "action": "queryRaw"}), False),
        ("POST", "/v1/query", "not json", False),
        ("POST", "/query", json.dumps({"operation": "findMany", "plan": {}}), True),
        ("POST", "/query", json.dumps({"operation": "createOne", "plan": {}}), False),
        ("GET", "/v1/schema", "", True),
        ("PUT", "/6.19.3/abc/schema", "datasource", True),
        ("GET", "/connection-info", "", True),
        ("POST", "/v1/transaction/start", "{}", False),
        ("POST", "/v1/transaction/o1~" + "a" * 32 + "/query", READ, False),
        ("POST", "/6.19.3/abc/graphql", READ, True),
        # Not validated yet: any JSON value where an action belongs is not a read, never an error.
        ("POST", "/v1/query", json.dumps({"action": {"modelName": "User"}}), False),
        ("POST", "/v1/query", json.dumps({"batch": [{"action": ["findMany"]}]}), False),
        ("POST", "/query", json.dumps({"operation": {"findMany": 1}}), False),
    ],
)
def test_only_what_may_run_twice_is_repeatable(method: str, path: str, body: str, expected: bool) -> None:
    route = classify(method, path)
    assert route is not None
    request = EdgeRequest(method, f"http://edge.test{path}", Headers(), body.encode())
    assert repeatable(route, request) is expected


async def test_a_hit_batch_goes_to_another_origin_when_one_is_down() -> None:
    counted = answer(200)
    origins = Origins(o1=[unreachable(delivered=False)], o2=[counted])
    app, clock = make(origins)
    batch = usage.HitBatch("0001-ab", (usage.HitCount("db1", "2026-12-06", usage.HIT, "s", 1, 10),))
    await app._send_hits(batch)
    delivered = [(o, target) for o, target, _ in origins.attempts]
    assert delivered[-1] == ("o2", wire.USAGE_HITS_PATH)
    _, _, headers = origins.attempts[-1]
    assert (
        service.verify(
            headers[service.HEADER],
            [SERVICE_SECRET.encode()],
            service.origin_audience("o2"),
            "POST",
            wire.USAGE_HITS_PATH,
            batch.to_json(),
            clock(),
        ).values["op"]
        == "hits"
    )


async def test_a_hit_batch_no_origin_counted_fails_so_it_is_sent_again_later() -> None:
    origins = Origins(o1=[unreachable(delivered=False)], o2=[answer(503, "P6000")])
    app, _ = make(origins)
    batch = usage.HitBatch("0001-ab", (usage.HitCount("db1", "2026-12-06", usage.HIT, "s", 1, 10),))
    with pytest.raises(RuntimeError, match="no origin counted the hit batch"):
        await app._send_hits(batch)

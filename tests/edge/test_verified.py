"""Keys verified once per isolate (bwedge/verified.py): the same answers as `keys.verify`, and never a
way around revocation or the signature."""

from __future__ import annotations

import pytest

from bwcontract import keys
from bwcontract.keys import KeyClaims
from bwedge.verified import VerifiedKeys
from tests.edge.cache_support import FIND_POSTS, KEY_SECRET, key_for, make_cache_edge, status_of
from tests.edge.test_revocation import Clock

SECRET = KEY_SECRET.encode()
CLAIMS = KeyClaims("key1", "ws1", "db1", "alpha", "read")


def test_a_remembered_key_has_the_claims_verify_gives() -> None:
    verified = VerifiedKeys([SECRET], Clock())
    token = keys.mint(CLAIMS, SECRET)
    assert verified.verify(token) == verified.verify(token) == keys.verify(token, [SECRET]) == CLAIMS


def test_a_forged_key_is_refused_even_after_its_genuine_twin_was_remembered() -> None:
    verified = VerifiedKeys([SECRET], Clock())
    token = keys.mint(CLAIMS, SECRET)
    verified.verify(token)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    other_claims = keys.mint(KeyClaims("key1", "ws1", "db2", "beta", "admin"), b"x" * 32)
    for bad in (forged, other_claims, token + "x", ""):
        with pytest.raises(keys.InvalidKey):
            verified.verify(bad)
        with pytest.raises(keys.InvalidKey):  # and again: a refusal is not remembered either
            verified.verify(bad)


def test_a_remembered_key_is_verified_again_after_the_ttl_and_the_map_is_bounded() -> None:
    clock = Clock()
    verified = VerifiedKeys([SECRET], clock, ttl=10, max_entries=2)
    tokens = [keys.mint(KeyClaims(f"k{i}", "ws1", "db1", "alpha", "read"), SECRET) for i in range(3)]
    for token in tokens:
        verified.verify(token)
    assert len(verified._known) <= 2
    verified._secrets = (b"y" * 32,)  # stands in for "the check runs again": it now fails
    clock.now += 10.5
    with pytest.raises(keys.InvalidKey):
        verified.verify(tokens[-1])


async def test_a_key_revoked_after_it_was_remembered_is_refused() -> None:
    edge = make_cache_edge()
    token = key_for("db1", key_id="key9")
    assert status_of(await edge.send(FIND_POSTS, token)) == "miss"
    assert status_of(await edge.send(FIND_POSTS, token)) == "ttl"  # served from the cache
    await edge.app.revocations.revoke(["key9"], [])
    refused = await edge.send(FIND_POSTS, token)
    assert (refused.status, refused.headers.get("Prisma-Error-Code")) == (401, "P6002")

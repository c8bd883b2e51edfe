from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwcontract import b64, keys
from bwcontract.keys import InvalidKey, KeyClaims

SECRET = b"s" * 32
CLAIMS = KeyClaims("key1", "ws1", "db1", "alpha", "read-write")


def test_a_minted_key_verifies_to_its_claims() -> None:
    assert keys.verify(keys.mint(CLAIMS, SECRET), [SECRET]) == CLAIMS


def test_a_key_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(InvalidKey, match="signature"):
        keys.verify(keys.mint(CLAIMS, b"x" * 32), [SECRET])


def test_a_previous_secret_still_verifies_during_rotation() -> None:
    old = b"o" * 32
    assert keys.verify(keys.mint(CLAIMS, old), [SECRET, old]) == CLAIMS


def test_changing_any_claim_breaks_the_signature() -> None:
    token = keys.mint(CLAIMS, SECRET)
    prefix, payload, signature = token.split(".")
    forged = b64.encode(b64.decode(payload).replace(b"db1", b"db2"))
    with pytest.raises(InvalidKey, match="signature"):
        keys.verify(f"{prefix}.{forged}.{signature}", [SECRET])


@pytest.mark.parametrize(
    "token",
    ["", "bw1", "bw1.a", "bw1.a.b.c", "bw2.e30.AAAA", "bw1.e30.!!!", "bw1.e30.AAAA=", "x" * 2000],
)
def test_malformed_keys_are_refused_with_a_reason(token: str) -> None:
    with pytest.raises(InvalidKey) as info:
        keys.verify(token, [SECRET])
    assert info.value.reason


def test_an_unknown_scope_cannot_be_minted() -> None:
    with pytest.raises(ValueError):
        keys.mint(KeyClaims("k", "w", "d", "n", "root"), SECRET)


@given(st.text(max_size=300))
def test_verify_only_ever_raises_invalid_key(token: str) -> None:
    try:
        keys.verify(token, [SECRET])
    except InvalidKey:
        pass


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_verify_refuses_arbitrary_signed_looking_tokens(payload: bytes, signature: bytes) -> None:
    with pytest.raises(InvalidKey):
        keys.verify(f"bw1.{b64.encode(payload) if payload else 'A'}.{b64.encode(signature) or 'A'}", [SECRET])


def test_the_key_comes_from_bearer_before_the_query() -> None:
    assert keys.key_from_request("Bearer abc", {"api_key": "def"}) == "abc"
    assert keys.key_from_request(None, {"api_key": "def"}) == "def"
    assert keys.key_from_request("Basic abc", {}) == ""


def test_the_stored_hash_is_not_the_key() -> None:
    token = keys.mint(CLAIMS, SECRET)
    assert keys.key_hash(token) != token.encode() and len(keys.key_hash(token)) == 32

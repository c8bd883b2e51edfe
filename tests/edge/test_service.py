from __future__ import annotations

import pytest

from bwcontract import service
from bwcontract.service import InvalidServiceSignature

SECRET = b"k" * 32
NOW = 1_800_000_000.0


def signed(**overrides: object) -> str:
    args: dict[str, object] = {
        "secret": SECRET,
        "audience": "origin",
        "claims": {"d": "db1"},
        "method": "POST",
        "target": "/v1/query",
        "body": b"{}",
        "now": NOW,
    }
    args.update(overrides)
    return service.sign(**args)  # type: ignore[arg-type]


def verify(header: str, **overrides: object) -> service.ServiceClaims:
    args: dict[str, object] = {
        "header": header,
        "secrets": [SECRET],
        "audience": "origin",
        "method": "POST",
        "target": "/v1/query",
        "body": b"{}",
        "now": NOW,
    }
    args.update(overrides)
    return service.verify(**args)  # type: ignore[arg-type]


def test_a_signed_request_verifies_with_its_claims() -> None:
    assert verify(signed()).values == {"d": "db1"}


@pytest.mark.parametrize(
    "change",
    [
        {"body": b'{"x":1}'},
        {"target": "/v1/query?x=1"},
        {"method": "PUT"},
        {"audience": "edge"},
        {"secrets": [b"z" * 32]},
        {"now": NOW + service.MAX_SKEW_SECONDS + 1},
    ],
)
def test_any_change_to_the_request_breaks_the_signature(change: dict[str, object]) -> None:
    with pytest.raises(InvalidServiceSignature):
        verify(signed(), **change)


@pytest.mark.parametrize("header", [None, "", "v1", "v1.1.2", "v2.1.e30.AAAA", "v1.x.e30.AAAA"])
def test_missing_or_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(InvalidServiceSignature):
        verify(header)  # type: ignore[arg-type]


def test_every_signature_carries_its_own_nonce_and_time() -> None:
    first, second = verify(signed()), verify(signed())
    assert first.nonce and second.nonce and first.nonce != second.nonce
    assert first.issued == second.issued == int(NOW)


def test_a_signature_for_one_origin_does_not_verify_at_another() -> None:
    header = signed(audience=service.origin_audience("o1"))
    assert verify(header, audience=service.origin_audience("o1")).values == {"d": "db1"}
    with pytest.raises(InvalidServiceSignature):
        verify(header, audience=service.origin_audience("o2"))


def test_a_header_without_a_nonce_or_of_the_old_format_is_refused() -> None:
    version, issued, _nonce, claims, mac = signed().split(".")
    for header in (f"{version}.{issued}..{claims}.{mac}", f"v1.{issued}.{claims}.{mac}"):
        with pytest.raises(InvalidServiceSignature):
            verify(header)

"""Signed service requests between the edge and the origin.

The edge authenticates the caller, then tells the origin who it is in one header the origin can verify:
`x-breakwater-service: v2.<unix seconds>.<nonce>.<base64url claims>.<base64url HMAC>`. The HMAC covers
the audience, the method, the path with its query and a digest of the body, so a captured header
cannot be used for another request, and a request the edge did not sign is refused. The audience of
a request to an origin names that origin process (`origin:<id>`), and every signature carries a
fresh random nonce: an origin accepts each nonce once while its signature is within
`MAX_SKEW_SECONDS` (origin/replay.py), so a captured request cannot be replayed, to it or to
another origin. The origin uses the same scheme (audience "edge") for its few calls into the edge,
such as pushing a revocation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from secrets import token_urlsafe
from typing import Any

from . import b64

HEADER = "x-breakwater-service"
VERSION = "v2"
# How far a signature's time may be from the receiver's clock. Short, because an origin remembers
# every nonce it accepted for this long; clocks must agree within it (NTP does).
MAX_SKEW_SECONDS = 30


class InvalidServiceSignature(Exception):
    pass


@dataclass(frozen=True)
class ServiceClaims:
    audience: str
    values: dict[str, Any]
    issued: int = 0  # the signature's time (unix seconds, the signer's clock)
    nonce: str = ""  # random, one per signature


def origin_audience(origin_id: str) -> str:
    """The audience of requests to one origin process: a signature for o1 does not verify at o2."""
    return f"origin:{origin_id}"


def _mac(secret: bytes, audience: str, head: str, method: str, target: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    message = "\n".join((head, audience, method.upper(), target, digest)).encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def sign(
    secret: bytes, audience: str, claims: dict[str, Any], method: str, target: str, body: bytes, now: float
) -> str:
    """`target` is the path plus `?query` exactly as the receiver will see it."""
    encoded = b64.encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    head = f"{VERSION}.{int(now)}.{token_urlsafe(16)}.{encoded}"
    return f"{head}.{b64.encode(_mac(secret, audience, head, method, target, body))}"


def verify(
    header: str | None,
    secrets: Sequence[bytes],
    audience: str,
    method: str,
    target: str,
    body: bytes,
    now: float,
) -> ServiceClaims:
    if not header:
        raise InvalidServiceSignature("the request was not signed by the edge")
    parts = header.split(".")
    if len(parts) != 5 or parts[0] != VERSION or not parts[2]:
        raise InvalidServiceSignature("malformed service signature")
    head = ".".join(parts[:4])
    try:
        issued = int(parts[1])
        mac = b64.decode(parts[4])
    except ValueError:
        raise InvalidServiceSignature("malformed service signature") from None
    if abs(now - issued) > MAX_SKEW_SECONDS:
        raise InvalidServiceSignature("the service signature has expired")
    if not any(hmac.compare_digest(mac, _mac(s, audience, head, method, target, body)) for s in secrets):
        raise InvalidServiceSignature("the service signature does not match this request")
    try:
        values = json.loads(b64.decode(parts[3]))
    except ValueError:
        raise InvalidServiceSignature("malformed service claims") from None
    if not isinstance(values, dict):
        raise InvalidServiceSignature("malformed service claims")
    return ServiceClaims(audience=audience, values=values, issued=issued, nonce=parts[2])

"""Unpadded base64url, the encoding of every token the edge hands out."""

from __future__ import annotations

import base64
import binascii
import re


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """Decode unpadded base64url; raises ValueError on anything else (padding, other alphabets)."""
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")

"""Identifiers the control plane hands out. Lowercase alphanumerics only, so a database id is also a
safe suffix for the Postgres database and role names a host agent derives from it."""

from __future__ import annotations

import secrets

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_id(prefix: str, length: int = 12) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))

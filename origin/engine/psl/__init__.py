"""The Prisma schema language: text → tokens (`lexer`) → declarations (`parser`) → schema model (`build`).

`load(text)` is the entry point; every error is a `SchemaError` with the line and column it was found at.
"""

from __future__ import annotations

from ..schema import Schema
from .build import build
from .errors import SchemaError
from .parser import parse


def load(text: str) -> Schema:
    """Parse a Prisma schema into the engine's schema model."""
    return build(parse(text))


__all__ = ["SchemaError", "load", "parse"]

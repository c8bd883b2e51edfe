"""Errors in a Prisma schema, located by line and column (1-based)."""

from __future__ import annotations


class SchemaError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.reason = message
        self.line = line
        self.column = column

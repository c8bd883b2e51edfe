"""The one place identifiers become SQL. Identifiers only ever come from the schema model."""

from __future__ import annotations


def ident(name: str) -> str:
    if "\x00" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'


def table(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"

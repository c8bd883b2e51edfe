"""The one place names become SQL. Identifiers only ever come from the schema model; so do the few
string constants (JSON keys of results, enum labels) that are written into SQL text as literals."""

from __future__ import annotations


def ident(name: str) -> str:
    if "\x00" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'


def table(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


def column(alias: str, name: str) -> str:
    return f"{ident(alias)}.{ident(name)}"


def literal(text: str) -> str:
    """A schema-derived name as a string constant (standard_conforming_strings is always on in PG ≥ 9.1)."""
    if "\x00" in text:
        raise ValueError("literal contains NUL")
    return "'" + text.replace("'", "''") + "'"

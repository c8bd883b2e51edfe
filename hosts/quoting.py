"""The one place the host agent writes a name or a password into SQL text.

DDL takes no bind parameters: role and database names, and the passwords of ALTER/CREATE ROLE, are
spliced into the statement. Ids are checked before they become names (`registry.checked_id`), but
what is quoted here is correct for any input, not only for the names the agent makes: Postgres reads
the text back as exactly the given string, or the helper refuses it.

The rules are Postgres's own `quote_ident` and `quote_literal`: an identifier in double quotes, a
literal in single quotes, the quote character doubled inside. Every session the agent opens pins
`standard_conforming_strings = on` (`bwservice.pinned`), so a backslash in a literal is an ordinary
character (`quote_literal` would write `E'…'` instead: the tenant cannot turn that setting off for
a pinned session).

The engine has the same two functions (`origin/engine/quoting.py`); one shared module belongs in a
package both layers import, and until it exists the two are kept alike.
"""

from __future__ import annotations

# Postgres keeps at most NAMEDATALEN - 1 bytes of a name and cuts longer ones silently, so two long
# names could name one role: refuse them instead.
NAMEDATALEN = 64


def ident(name: str) -> str:
    """`name` as an SQL identifier (always quoted: case and keywords stay as given)."""
    if not name:
        raise ValueError("an SQL identifier cannot be empty")
    if "\x00" in name:
        raise ValueError("an SQL identifier cannot contain NUL")
    if len(name.encode()) >= NAMEDATALEN:
        raise ValueError(f"an SQL identifier is at most {NAMEDATALEN - 1} bytes: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """`text` as an SQL string constant (a password, a publication option)."""
    if "\x00" in text:
        raise ValueError("an SQL string constant cannot contain NUL")
    return "'" + text.replace("'", "''") + "'"

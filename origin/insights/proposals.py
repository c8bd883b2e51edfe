"""An index proposed for a shape's sequential scan (`proposal`): the columns its filter compares and
its order sorts by, unless an index covers them already; as a statement, and as hypopg's
hypothetical index."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..engine.quoting import ident
from ..engine.quoting import table as qualified
from .catalog import Index, Table
from .explain import Scan


@dataclass(frozen=True)
class Proposal:
    schema: str
    table: str
    columns: tuple[str, ...]  # each column, quoted, with DESC when the order wants it
    trigram: bool = False  # a LIKE '%…' filter: a GIN trigram index on one column

    @property
    def name(self) -> str:
        bare = [re.sub(r"[^A-Za-z0-9_]", "", c.replace(" DESC", "")) for c in self.columns]
        return (f"{self.table}_{'_'.join(bare)}_{'trgm' if self.trigram else 'idx'}")[:63]

    def statement(self, concurrently: bool = True) -> str:
        how = "CONCURRENTLY " if concurrently else ""
        target = qualified(self.schema, self.table)
        if self.trigram:
            return (
                f"CREATE INDEX {how}{ident(self.name)} ON {target} USING gin ({self.columns[0]} gin_trgm_ops)"
            )
        return f"CREATE INDEX {how}{ident(self.name)} ON {target} ({', '.join(self.columns)})"

    def hypothetical(self) -> str | None:
        """The statement hypopg takes (it has no GIN): None for a trigram index."""
        if self.trigram:
            return None
        return f"CREATE INDEX ON {qualified(self.schema, self.table)} ({', '.join(self.columns)})"


NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_COMPARISON = re.compile(rf"{NAME}\.({NAME})\s*(=|<>|<=|>=|<|>|~~\*|~~|!~~|IS\b)")
_SORT_KEY = re.compile(rf"^(?:{NAME}\.)?({NAME})(\s+DESC)?")


def unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def proposal(scan: Scan, table: Table, indexes: list[Index], wildcards: bool) -> Proposal | None:
    """The index that would let Postgres skip the scan: equality columns first, then one range or
    the order's columns. A leading-wildcard LIKE gets a trigram index instead."""
    equal: list[str] = []
    ranged: list[str] = []
    liked: list[str] = []
    for name, op in _COMPARISON.findall(scan.filter or ""):
        column = unquote(name)
        if column not in table.columns:
            continue
        bucket = equal if op in ("=", "IS") else liked if "~~" in op else ranged
        if column not in bucket:
            bucket.append(column)
    ordered: list[str] = []
    for key in scan.sort_keys:
        found = _SORT_KEY.match(key.strip())
        if found and unquote(found[1]) in table.columns:
            ordered.append(ident(unquote(found[1])) + (" DESC" if found[2] else ""))
    if liked and wildcards and not equal:
        return Proposal(table.schema, table.name, (ident(liked[0]),), trigram=True)
    columns = [ident(c) for c in equal]
    if ranged:
        columns.append(ident(ranged[0]))
    elif scan.limited:
        columns += [c for c in ordered if c not in columns]
    if not columns:
        return None
    columns = columns[:3]
    if _covered(columns, table, indexes):
        return None
    return Proposal(table.schema, table.name, tuple(columns))


def _covered(columns: list[str], table: Table, indexes: list[Index]) -> bool:
    """An index on the table already leads with these columns (the planner chose the scan anyway)."""

    def bare(text: str) -> str:  # pg_get_indexdef quotes a name only when it must
        return text.replace(" DESC", "").replace('"', "")

    wanted = bare(", ".join(columns))
    for index in indexes:
        if index.schema == table.schema and index.table == table.name:
            listed = index.definition.split("(", 1)[-1].rsplit(")", 1)[0]
            if bare(listed).startswith(wanted):
                return True
    return False


# --- the rules ------------------------------------------------------------------------------------

"""What every statement of the Query stage is written with: the `Builder` that numbers a
statement's `$n` parameters and row aliases, a model's table, the join of a relation, and the SQL
aggregate functions. Names come from the schema through `quoting`; values never enter the text."""

from __future__ import annotations

from dataclasses import dataclass, field

from .params import Source
from .quoting import column, ident, table
from .schema import Model, RelationField, Schema

# Prisma's aggregate keys and the SQL functions they are.
AGGREGATE_SQL = {"_count": "count", "_avg": "avg", "_sum": "sum", "_min": "min", "_max": "max"}


@dataclass
class Builder:
    schema: Schema
    sources: list[Source] = field(default_factory=list)
    aliases: int = 0

    def param(self, source: Source) -> str:
        self.sources.append(source)
        return f"${len(self.sources)}"

    def alias(self) -> str:
        name = f"t{self.aliases}"
        self.aliases += 1
        return name


def model_table(model: Model) -> str:
    return table(model.schema, model.table)


def link(schema: Schema, relation: RelationField, parent: str, child: str) -> str:
    """The condition joining rows of `relation`'s target (alias `child`) to the parent row."""
    joined = relation.joined()
    owner = schema.models[relation.owner]
    target = schema.models[relation.target]
    if joined.kind == "m2m":
        j = ident("j")
        return (
            f"EXISTS (SELECT 1 FROM {table(joined.join_schema, joined.join_table)} AS {j} "
            f"WHERE {j}.{ident(joined.this_column)} = {column(parent, owner.fields[joined.this_key].column)} "
            f"AND {j}.{ident(joined.other_column)} = {column(child, target.fields[joined.other_key].column)})"
        )
    return " AND ".join(
        f"{column(child, target.fields[other].column)} = {column(parent, owner.fields[this].column)}"
        for this, other in joined.pairs
    )

"""The schema model every stage works from: models, scalar and relation fields, keys, enums.

It is built from a Prisma schema (`psl`) or from a live database (`introspect`); after `finish()` the
relation fields know how they join (`Link`), so the planner never has to look at the source again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCALAR_TYPES = frozenset(
    {"Int", "BigInt", "Float", "Decimal", "String", "Boolean", "DateTime", "Json", "Bytes"}
)


class SchemaModelError(ValueError):
    """A schema that cannot be used (e.g. a relation without a matching back relation)."""


@dataclass(frozen=True)
class Default:
    """`@default(...)`: kind is autoincrement | now | uuid | cuid | nanoid | ulid | dbgenerated | value."""

    kind: str
    value: Any = None
    version: int | None = None  # uuid(7), cuid(2)

    @property
    def in_database(self) -> bool:
        """Whether Postgres fills it in (so an insert may leave the column out)."""
        return self.kind in ("autoincrement", "dbgenerated", "database")


@dataclass(frozen=True)
class ScalarField:
    name: str
    column: str
    type: str  # one of SCALAR_TYPES, or an enum's name
    required: bool = True
    is_list: bool = False
    is_id: bool = False
    is_unique: bool = False
    default: Default | None = None
    updated_at: bool = False
    native_type: str | None = None  # lower-case Postgres type name: "varchar", "timestamp", "date", ...
    is_enum: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not None or self.updated_at


@dataclass(frozen=True)
class Link:
    """How a relation field joins. `pairs` are (this model's field, other model's field) for FK links;
    an implicit many-to-many goes through `join_table` with this side in `this_column`."""

    kind: str  # fk_here | fk_there | m2m
    pairs: tuple[tuple[str, str], ...] = ()
    join_table: str = ""
    join_schema: str = "public"
    this_column: str = ""
    other_column: str = ""
    this_key: str = ""  # the field of this model the join table refers to
    other_key: str = ""


@dataclass
class RelationField:
    name: str
    target: str  # the related model's name
    relation_name: str
    is_list: bool = False
    required: bool = False
    fields: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    on_delete: str | None = None
    on_update: str | None = None
    link: Link | None = None
    back: str = ""  # the relation field on the other side
    owner: str = ""  # the model this field belongs to

    def joined(self) -> Link:
        if self.link is None:
            raise SchemaModelError(f"relation field {self.name} was never resolved")
        return self.link


@dataclass(frozen=True)
class EnumValue:
    name: str
    db_name: str


@dataclass
class Enum:
    name: str
    db_name: str
    values: list[EnumValue] = field(default_factory=list)

    def names(self) -> list[str]:
        return [v.name for v in self.values]

    @property
    def mapped(self) -> bool:
        return any(v.name != v.db_name for v in self.values)


@dataclass
class UniqueKey:
    fields: tuple[str, ...]
    name: str  # the key in a compound `where` selector, e.g. "a_b"


@dataclass
class Model:
    name: str
    table: str
    schema: str = "public"
    fields: dict[str, ScalarField] = field(default_factory=dict)
    relations: dict[str, RelationField] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    primary_key_name: str = ""
    unique_sets: list[tuple[str, ...]] = field(default_factory=list)
    unique_names: dict[tuple[str, ...], str] = field(default_factory=dict)

    def unique_criteria(self) -> list[tuple[str, ...]]:
        """Field sets that identify one record (the id first)."""
        found = [self.primary_key] if self.primary_key else []
        found.extend(s for s in self.unique_sets if s not in found)
        return found

    def unique_keys(self) -> list[UniqueKey]:
        keys = []
        for criteria in self.unique_criteria():
            if criteria == self.primary_key and self.primary_key_name:
                name = self.primary_key_name
            else:
                name = self.unique_names.get(criteria) or "_".join(criteria)
            keys.append(UniqueKey(criteria, name))
        return keys

    def identity(self) -> tuple[str, ...]:
        """The fields that identify a record: the id, else the first unique set of required fields."""
        if self.primary_key:
            return self.primary_key
        for criteria in self.unique_sets:
            if all(self.fields[f].required for f in criteria):
                return criteria
        return ()

    def get(self, name: str) -> ScalarField | RelationField | None:
        return self.fields.get(name) or self.relations.get(name)


@dataclass
class Schema:
    models: dict[str, Model] = field(default_factory=dict)
    enums: dict[str, Enum] = field(default_factory=dict)
    source_hash: str = ""

    def model(self, name: str) -> Model:
        return self.models[name]

    def tables_of(self, models: frozenset[str]) -> frozenset[str]:
        """The tables of `models` (names the schema does not know are kept as they are)."""
        return frozenset(self.models[m].table if m in self.models else m for m in models)

    def tables(self) -> dict[str, str]:
        """Table name → model name (for raw queries' models-read/written headers)."""
        return {m.table: m.name for m in self.models.values()}

    def finish(self) -> Schema:
        """Resolve every relation field's `Link` and back relation; returns self."""
        for model in self.models.values():
            for rel in model.relations.values():
                rel.owner = model.name
                _resolve(self, model, rel)
        return self


def m2m_table(relation_name: str) -> str:
    return f"_{relation_name}"


def _resolve(schema: Schema, model: Model, rel: RelationField) -> None:
    target = schema.models.get(rel.target)
    if target is None:
        raise SchemaModelError(f"{model.name}.{rel.name} refers to unknown model {rel.target}")
    backs = [
        r
        for r in target.relations.values()
        if r.relation_name == rel.relation_name and r.target == model.name and r is not rel
    ]
    if model.name == target.name:
        # A self relation: the two ends are the two fields of the model with this relation name.
        backs = [r for r in model.relations.values() if r.relation_name == rel.relation_name and r is not rel]
    back = backs[0] if backs else None
    rel.back = back.name if back else ""
    if rel.fields:
        if len(rel.fields) != len(rel.references):
            raise SchemaModelError(
                f"{model.name}.{rel.name}: `fields` and `references` must have the same length"
            )
        rel.link = Link("fk_here", tuple(zip(rel.fields, rel.references, strict=True)))
        return
    if back is not None and back.fields:
        rel.link = Link("fk_there", tuple(zip(back.references, back.fields, strict=True)))
        return
    if rel.is_list and (back is None or back.is_list):
        this_key = _single_id(model)
        other_key = _single_id(target)
        first = sorted([model.name, target.name])[0]
        if model.name == target.name:
            this_is_a = back is None or rel.name < back.name
        else:
            this_is_a = model.name == first
        rel.link = Link(
            "m2m",
            join_table=m2m_table(rel.relation_name),
            join_schema=model.schema,
            this_column="A" if this_is_a else "B",
            other_column="B" if this_is_a else "A",
            this_key=this_key,
            other_key=other_key,
        )
        return
    raise SchemaModelError(
        f"{model.name}.{rel.name}: the relation {rel.relation_name} needs `fields` and `references` "
        f"on one side"
    )


def _single_id(model: Model) -> str:
    if len(model.primary_key) != 1:
        raise SchemaModelError(f"implicit many-to-many relations need a single-field id on {model.name}")
    return model.primary_key[0]

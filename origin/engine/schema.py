"""The schema model every stage works from: models, their scalar fields and keys."""

from __future__ import annotations

from dataclasses import dataclass, field

SCALAR_TYPES = frozenset(
    {"Int", "BigInt", "Float", "Decimal", "String", "Boolean", "DateTime", "Json", "Bytes"}
)


@dataclass(frozen=True)
class ScalarField:
    name: str
    column: str
    type: str  # one of SCALAR_TYPES, or an enum's name
    required: bool = True
    is_list: bool = False
    is_id: bool = False
    is_unique: bool = False
    has_default: bool = False
    native_type: str | None = None


@dataclass
class Model:
    name: str
    table: str
    schema: str = "public"
    fields: dict[str, ScalarField] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    unique_sets: list[tuple[str, ...]] = field(default_factory=list)

    def unique_criteria(self) -> list[tuple[str, ...]]:
        """Field sets that identify one record (the id first)."""
        found = [self.primary_key] if self.primary_key else []
        found.extend(s for s in self.unique_sets if s not in found)
        return found


@dataclass
class Schema:
    models: dict[str, Model] = field(default_factory=dict)
    enums: dict[str, list[str]] = field(default_factory=dict)

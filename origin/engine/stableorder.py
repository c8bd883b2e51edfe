"""Whether Prisma's engine pages from a cursor over an order in SQL: the order is stable and no
term can be NULL (`QueryArguments::requires_inmemory_processing` in prisma-engines). Otherwise
it pages in memory, and refuses the cursor of an aggregate."""

from __future__ import annotations

from .nodes import Order
from .schema import Model, RelationField, Schema


def stable_order(schema: Schema, model: Model, terms: list[Order]) -> bool:
    """Stable: a unique field of the model in the order, every field of one of its `@unique` /
    `@@unique` keys (a compound `@@id` is not one of them to Prisma), or a unique field reached
    through one-to-one relations only. No term can be NULL: no nullable field, no optional
    relation on the way. `_count` and `_relevance` terms neither make nor break it; a groupBy
    aggregate, or a term of nothing, breaks it."""
    if any(o.aggregate or (o.field is None and o.count_of is None and o.relevance is None) for o in terms):
        return False
    plain = [o for o in terms if o.count_of is None and o.relevance is None]
    fields = [(o.field, o.path) for o in plain if o.field is not None]
    if any(not f.required or any(not r.required for r in path) for f, path in fields):
        return False
    here = {f.name for f, path in fields if not path}
    if any(len(key) == 1 and key[0] in here for key in model.unique_criteria()):
        return True
    if any(set(key) <= here for key in model.unique_sets if key != model.primary_key):
        return True
    for f, path in fields:
        if path and _one_to_one(schema, path):
            target = schema.models[path[-1].target]
            if any(key == (f.name,) for key in target.unique_criteria()):
                return True
    return False


def _one_to_one(schema: Schema, path: tuple[RelationField, ...]) -> bool:
    for relation in path:
        back = schema.models[relation.target].relations.get(relation.back)
        if back is None or back.is_list:
            return False
    return True

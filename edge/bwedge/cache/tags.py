"""Cache tags: the ones clients name (Accelerate's rules) and the ones the edge derives from models.

Inside the TagVersions Durable Object every tag has a namespaced name, so a client tag can never
collide with a model tag or with the database-wide version: `t:<tag>` for client tags, `m:<model>`
for models, and `*` for "everything in this database" (what `invalidateAll` bumps).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bwcontract.codes import Code

from ..errors import EdgeError

ALL = "*"
_TAG = re.compile(r"[A-Za-z0-9_]{1,64}")
# Model names come from the origin (Prisma model names, or table names for Prisma 7 plans).
_MODEL = re.compile(r"[^\s,]{1,128}")


def client(tag: str) -> str:
    return f"t:{tag}"


def model(name: str) -> str:
    return f"m:{name}"


def validate(tags: Iterable[object], limit: int, where: str) -> tuple[str, ...]:
    """Check client tags against Accelerate's rules; sorted and deduplicated, so order never matters."""
    found: set[str] = set()
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise EdgeError(
                Code.CACHE_TAG,
                f"Invalid cache tag {tag!r} in {where}.",
                "Tags are 1 to 64 characters of letters, digits and underscores.",
            )
        found.add(tag)
    if len(found) > limit:
        raise EdgeError(
            Code.CACHE_TAGS_TOO_MANY,
            f"Too many cache tags in {where}: {len(found)}, at most {limit}.",
            "Use fewer tags.",
        )
    return tuple(sorted(found))


def from_header(value: str | None, limit: int) -> tuple[str, ...]:
    """`accelerate-cache-tags: a,b` as the Accelerate extension sends it."""
    if not value or not value.strip():
        return ()
    return validate((part.strip() for part in value.split(",")), limit, "accelerate-cache-tags")


def models_from_header(value: str | None) -> tuple[str, ...] | None:
    """The origin's `x-breakwater-models-read/-written: A,B`; None when the header is absent.

    An empty header is a definite "no models", unlike an absent one.
    """
    if value is None:
        return None
    names = {part.strip() for part in value.split(",")}
    return tuple(sorted(n for n in names if n and _MODEL.fullmatch(n)))

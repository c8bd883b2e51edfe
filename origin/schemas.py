"""The schema model a request is compiled against, per tenant database.

Two sources: the Prisma schema a Prisma 6 client uploaded (kept in the control plane by database and
hash, so every origin process can serve it), and introspection of the live database, used by `/v1`.
Parsed schemas are kept per process; each carries its own compiled-shape cache.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections import OrderedDict

import asyncpg

from bwcontract.codes import Code

from .engine import psl
from .engine.introspect import introspect
from .engine.schema import Schema
from .errors import BadRequest

_UPLOADED_KEEP = 256


class SchemaUploadError(BadRequest):
    code = Code.SCHEMA_UPLOAD


def schema_hash(body: bytes) -> str:
    """Prisma's schema hash: sha256 hex of the base64 text the client uploads."""
    return hashlib.sha256(body).hexdigest()


def decode_upload(body: bytes) -> str:
    try:
        source = base64.b64decode(body.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise SchemaUploadError("The schema upload is not base64 of a UTF-8 Prisma schema.") from None
    if "\x00" in source:  # no schema holds one, and Postgres text cannot store it
        raise SchemaUploadError("The uploaded Prisma schema holds a NUL character.")
    return source


class SchemaCache:
    def __init__(self) -> None:
        self._introspected: dict[str, Schema] = {}
        self._uploaded: OrderedDict[tuple[str, str], Schema] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    # --- introspected (/v1) -----------------------------------------------------------------------

    async def get(self, database_id: str, conn: asyncpg.Connection, refresh: bool = False) -> Schema:
        if not refresh and database_id in self._introspected:
            return self._introspected[database_id]
        async with self._locks.setdefault(database_id, asyncio.Lock()):
            if refresh or database_id not in self._introspected:
                self._introspected[database_id] = await introspect(conn)
            return self._introspected[database_id]

    def forget(self, database_id: str) -> None:
        self._introspected.pop(database_id, None)
        for key in [k for k in self._uploaded if k[0] == database_id]:
            del self._uploaded[key]

    # --- uploaded (Prisma 6) ----------------------------------------------------------------------

    async def uploaded(self, control: asyncpg.Pool, database_id: str, hash_: str) -> Schema | None:
        """The schema a client uploaded under `hash_` for this database, or None (→ SchemaMissing)."""
        key = (database_id, hash_)
        found = self._uploaded.get(key)
        if found is not None:
            self._uploaded.move_to_end(key)
            return found
        source = await control.fetchval(
            "UPDATE prisma_schemas SET used_at = now() WHERE database_id = $1 AND hash = $2 RETURNING source",
            database_id,
            hash_,
        )
        if source is None:
            return None
        return self._keep(key, source)

    async def upload(self, control: asyncpg.Pool, database_id: str, hash_: str, body: bytes) -> Schema:
        """Check, parse and store an uploaded schema; a bad one is refused with its line and column."""
        if schema_hash(body.strip()) != hash_:
            raise SchemaUploadError(
                "The schema does not match the hash in the URL (sha256 of the uploaded base64 text).",
                hint="Regenerate the client (`prisma generate`) so its schema and hash agree.",
            )
        source = decode_upload(body)
        try:
            schema = psl.load(source)
        except psl.SchemaError as exc:
            raise SchemaUploadError(
                f"The uploaded Prisma schema is invalid: {exc}",
                meta={"line": exc.line, "column": exc.column},
            ) from None
        await control.execute(
            "INSERT INTO prisma_schemas (database_id, hash, source) VALUES ($1, $2, $3) "
            "ON CONFLICT (database_id, hash) DO UPDATE SET used_at = now()",
            database_id,
            hash_,
            source,
        )
        schema.source_hash = hash_
        self._uploaded[(database_id, hash_)] = schema
        self._trim()
        return schema

    def _keep(self, key: tuple[str, str], source: str) -> Schema:
        schema = psl.load(source)
        schema.source_hash = key[1]
        self._uploaded[key] = schema
        self._trim()
        return schema

    def _trim(self) -> None:
        while len(self._uploaded) > _UPLOADED_KEEP:
            self._uploaded.popitem(last=False)

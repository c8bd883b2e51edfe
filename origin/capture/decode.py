"""pgoutput changes → events, with values encoded exactly like query results.

`pgoutput` sends column values in Postgres's text format (the replication session runs with
DateStyle ISO, TimeZone UTC); each is parsed to the Python value asyncpg would have produced and then
encoded by the engine's `encode_output`, so an event's record looks like a `findMany` row.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass
from typing import Any

from bwcontract.offsets import Position

from ..engine.output import encode_output, format_datetime
from ..engine.schema import Model, ScalarField, Schema
from . import pgoutput

_MONEY_NOISE = re.compile(r"[^0-9.\-]")
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Table:
    """A relation as the stream described it, resolved against the schema model."""

    relation: pgoutput.Relation
    model_name: str
    fields: tuple[ScalarField | None, ...]  # per column; None: not part of the model
    key: tuple[int, ...]  # column indexes of the replica identity key

    @property
    def full_identity(self) -> bool:
        return self.relation.replica_identity == "f"


def resolve(relation: pgoutput.Relation, schema: Schema) -> Table:
    model: Model | None = next(
        (m for m in schema.models.values() if m.table == relation.name and m.schema == relation.schema),
        None,
    )
    by_column = {f.column: f for f in model.fields.values()} if model else {}
    return Table(
        relation=relation,
        model_name=model.name if model else relation.name,
        fields=tuple(by_column.get(c.name) for c in relation.columns),
        key=tuple(i for i, c in enumerate(relation.columns) if c.is_key),
    )


def commit_time(commit_time_us: int) -> str:
    return format_datetime(PG_EPOCH + dt.timedelta(microseconds=commit_time_us))


def parse_array(text: str) -> list[Any]:
    """Postgres's array text format (`{1,"a b",NULL,{2,3}}`) → nested lists of str | None."""
    if text.startswith("["):  # explicit bounds, e.g. [0:1]={1,2}
        text = text[text.index("=") + 1 :]
    stack: list[list[Any]] = []
    result: list[Any] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            stack.append([])
            i += 1
        elif ch == "}":
            done = stack.pop()
            if stack:
                stack[-1].append(done)
            else:
                result = done
            i += 1
        elif ch == ",":
            i += 1
        elif ch == '"':
            i += 1
            chars = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                chars.append(text[i])
                i += 1
            stack[-1].append("".join(chars))
            i += 1
        else:
            start = i
            while i < n and text[i] not in ",}":
                i += 1
            item = text[start:i].strip()
            stack[-1].append(None if item == "NULL" else item)
    return result


def _datetime(text: str) -> Any:
    if len(text) == 10 and text[4] == "-":
        return dt.date.fromisoformat(text)
    if len(text) >= 8 and text[2] == ":":
        return dt.time.fromisoformat(text)
    return dt.datetime.fromisoformat(text)


def parse_scalar(kind: str, text: str) -> Any:
    """One non-null value of Prisma scalar type `kind` from its text form."""
    if kind in ("Int", "BigInt"):
        return int(text)
    if kind == "Float":
        return float(text)
    if kind == "Decimal":
        try:
            return decimal.Decimal(text)
        except decimal.InvalidOperation:
            return decimal.Decimal(_MONEY_NOISE.sub("", text))  # money: "$1,234.50"
    if kind == "Boolean":
        return text == "t"
    if kind == "DateTime":
        return _datetime(text)
    if kind == "Bytes":
        return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()
    return text  # String, Json (kept as text, as asyncpg returns it), enums


def value(field: ScalarField, raw: object) -> Any:
    """A column's text value → its JSON-protocol encoding, as a query result would carry it."""
    if raw is None:
        # A list field is never null for Prisma: a NULL array reads as [] (as in jsonsql.scalar_json).
        return [] if field.is_list else None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        if field.is_list:
            return encode_output(field, _list_values(field.type, parse_array(text)))
        return encode_output(field, parse_scalar(field.type, text))
    except (ValueError, TypeError, decimal.InvalidOperation, OverflowError):
        # Values Python has no type for (infinity dates, BC years): the text, not nothing.
        return text


def _list_values(kind: str, items: list[Any]) -> list[Any]:
    return [
        _list_values(kind, item)
        if isinstance(item, list)
        else None
        if item is None
        else parse_scalar(kind, item)
        for item in items
    ]


def record(table: Table, values: pgoutput.Tuple, only: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The model fields of a tuple; UNCHANGED (TOASTed, not in the WAL) columns are left out."""
    found: dict[str, Any] = {}
    for i in only if only is not None else range(len(values)):
        field = table.fields[i] if i < len(table.fields) else None
        raw = values[i]
        if field is None or raw is pgoutput.UNCHANGED:
            continue
        found[field.name] = value(field, raw)
    return found


def _unchanged(table: Table, values: pgoutput.Tuple) -> list[str]:
    return [f.name for f, raw in zip(table.fields, values, strict=False) if f and raw is pgoutput.UNCHANGED]


def truncate_event(
    table: Table, truncate: pgoutput.Truncate, position: Position, when: str
) -> dict[str, Any]:
    """TRUNCATE emptied the table: one event for all its rows, which no per-row delete reports."""
    found: dict[str, Any] = {
        "id": position.event_id,
        "offset": position.offset,
        "modelName": table.model_name,
        "action": "truncate",
        "commitTime": when,
    }
    if truncate.cascade:
        found["cascade"] = True
    if truncate.restart_identity:
        found["restartIdentity"] = True
    return found


def event(
    table: Table,
    change: pgoutput.Insert | pgoutput.Update | pgoutput.Delete | pgoutput.Truncate,
    position: Position,
    when: str,
) -> dict[str, Any]:
    """The event of one change. `partial` says the old image (before/deleted) carries only the key."""
    if isinstance(change, pgoutput.Truncate):
        return truncate_event(table, change, position, when)
    base: dict[str, Any] = {
        "id": position.event_id,
        "offset": position.offset,
        "modelName": table.model_name,
    }
    if isinstance(change, pgoutput.Insert):
        return {**base, "action": "create", "created": record(table, change.new), "commitTime": when}
    if isinstance(change, pgoutput.Delete):
        partial = change.old_is_key_only or pgoutput.UNCHANGED in change.old
        # A key-only old tuple lists every column, NULL but for the key's: keep just the key.
        deleted = record(table, change.old, table.key if change.old_is_key_only else None)
        found = {**base, "action": "delete", "deleted": deleted, "commitTime": when}
        return {**found, "partial": True} if partial else found
    after = record(table, change.new)
    if change.old is not None and not change.old_is_key_only:
        before = record(table, change.old)
        partial = pgoutput.UNCHANGED in change.old
    elif change.old is not None:
        before, partial = record(table, change.old, table.key), True
    else:  # the key did not change and the table has no full identity: the key is all we know
        before, partial = record(table, change.new, table.key), True
    unchanged = _unchanged(table, change.new)
    for name in unchanged:
        if name in before and not partial:
            after[name] = before[name]  # a full before image carries the untouched TOASTed value
    found = {**base, "action": "update", "before": before, "after": after, "commitTime": when}
    if partial:
        found["partial"] = True
    missing = [name for name in unchanged if name not in after]
    if missing:
        found["unchanged"] = missing
    return found

"""An insert's event as JSON text straight from its pgoutput bytes: the hot path of capture.

Most of what a busy database streams are inserts. For those the tuple is read and each column's text
turned into its JSON text in one pass, by a converter per column chosen once per Relation message
(`InsertText`), instead of parsing to a message, decoding to a dict and encoding that (together ~3/4
of the origin's CPU per event). The text is the general path's byte for byte (`json` over
`decode.event`; tests/cdc/test_decode.py holds them equal over every column type): types with an
obvious text form (ints, text, uuid, booleans) are written here, every other one goes through
`decode.value`. Anything unusual in the tuple (a column count that differs from the Relation's,
binary or unchanged columns, a malformed message) answers None, and the general path takes the
message and says what is wrong with it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

from ..engine.schema import ScalarField
from . import decode

_INT16 = struct.Struct("!h")
_INT32 = struct.Struct("!i")
# The general path's encoder is json's default (ensure_ascii): the same escaping, the same bytes.
_string = json.encoder.encode_basestring_ascii
_encode = json.JSONEncoder(separators=(",", ":")).encode

INT2, INT4, INT8, BOOL, NAME, TEXT, BPCHAR, VARCHAR, UUID = 21, 23, 20, 16, 19, 25, 1042, 1043, 2950
STRING_OIDS = frozenset({NAME, TEXT, BPCHAR, VARCHAR, UUID})

# A column's text (not NULL) → its JSON text; None: the text is its JSON already.
Converter = Callable[[str], str] | None


def _big_int(text: str) -> str:
    return '{"$type":"BigInt","value":"' + text + '"}'


def _boolean(text: str) -> str:
    return "true" if text == "t" else "false"


def converter(field: ScalarField, type_oid: int) -> Converter:
    """How the text of a column of Postgres type `type_oid` becomes `field`'s JSON text. Postgres's
    output for these types is canonical, so e.g. an int4's text is its JSON number as it stands."""
    if not field.is_list and not field.is_enum:
        if field.type == "Int" and type_oid in (INT2, INT4):
            return None
        if field.type == "BigInt" and type_oid == INT8:
            return _big_int
        if field.type == "String" and type_oid in STRING_OIDS:
            return _string
        if field.type == "Boolean" and type_oid == BOOL:
            return _boolean
    return lambda text: _encode(decode.value(field, text))


class Transaction:
    """What the events of one transaction share: the texts around their sequence numbers."""

    __slots__ = ("id_head", "offset_head", "tail")

    def __init__(self, lsn: int, when: str) -> None:
        self.id_head = f'{{"id":"ev_{lsn:x}_'
        self.offset_head = f'","offset":"{lsn:016X}-'
        self.tail = ',"commitTime":' + _string(when) + "}"


class InsertText:
    """The event text of an insert into one table, as the stream described the table."""

    __slots__ = ("_columns", "_head")

    def __init__(self, table: decode.Table) -> None:
        # Per column: its key text (`"name":`, None if no model field is there), the converter of
        # its text, and its JSON when NULL (a list field reads [] for NULL, as in a query).
        columns: list[tuple[str | None, Converter, str]] = []
        for column, field in zip(table.relation.columns, table.fields, strict=True):
            if field is None:
                columns.append((None, None, ""))
            else:
                columns.append(
                    (
                        _string(field.name) + ":",
                        converter(field, column.type_oid),
                        "[]" if field.is_list else "null",
                    )
                )
        self._columns = tuple(columns)
        self._head = '","modelName":' + _string(table.model_name) + ',"action":"create","created":'

    def event(self, data: bytes, pos: int, transaction: Transaction, seq: int) -> str | None:
        """The event of the insert whose new tuple starts at `pos` in `data`, change `seq` of
        `transaction`; None when the general path must take it."""
        record = self._record(data, pos)
        if record is None:
            return None
        return "".join(
            (
                transaction.id_head,
                str(seq),
                transaction.offset_head,
                f"{seq:08X}",
                self._head,
                record,
                transaction.tail,
            )
        )

    def _record(self, data: bytes, pos: int) -> str | None:
        columns = self._columns
        size = len(data)
        parts: list[str] = []
        try:
            if _INT16.unpack_from(data, pos)[0] != len(columns):
                return None
            pos += 2
            for key, convert, null in columns:
                kind = data[pos]
                pos += 1
                if kind == 0x74:  # t(ext)
                    length = _INT32.unpack_from(data, pos)[0]
                    pos += 4
                    end = pos + length
                    if length < 0 or end > size:
                        return None
                    if key is not None:
                        text = data[pos:end].decode()
                        parts.append(key + (text if convert is None else convert(text)))
                    pos = end
                elif kind == 0x6E:  # n(ull)
                    if key is not None:
                        parts.append(key + null)
                else:  # b(inary), u(nchanged TOAST), or not a kind at all
                    return None
        except (struct.error, IndexError, UnicodeDecodeError):
            return None
        return "{" + ",".join(parts) + "}"

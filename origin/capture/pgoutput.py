"""The `pgoutput` logical decoding messages (protocol version 1), parsed into plain values.

Pure: bytes in, dataclasses out. Column values stay in Postgres's text format here; `decode.py`
turns them into typed, JSON-protocol values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_INT16 = struct.Struct("!h")
_INT32 = struct.Struct("!i")
UNCHANGED = object()  # a TOASTed column an update did not touch: its value is not in the WAL


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    is_key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    replica_identity: str  # d default (primary key) | f full | i index | n nothing
    columns: tuple[Column, ...]


# A tuple: per column its text value, None for NULL, or UNCHANGED.
Tuple = tuple[object, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_time_us: int  # microseconds since 2000-01-01 UTC
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time_us: int


@dataclass(frozen=True)
class Insert:
    relation_oid: int
    new: Tuple


@dataclass(frozen=True)
class Update:
    relation_oid: int
    old: Tuple | None
    old_is_key_only: bool
    new: Tuple


@dataclass(frozen=True)
class Delete:
    relation_oid: int
    old: Tuple
    old_is_key_only: bool


@dataclass(frozen=True)
class Truncate:
    relation_oids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class Other:
    """Origin, Type, Message: nothing an event is made of."""

    kind: str


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Other


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ProtocolError("message ends early")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def byte(self) -> str:
        return chr(self.take(1)[0])

    def int16(self) -> int:
        return int(struct.unpack_from("!h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack_from("!i", self.take(4))[0])

    def uint32(self) -> int:
        return int(struct.unpack_from("!I", self.take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack_from("!q", self.take(8))[0])

    def uint64(self) -> int:
        return int(struct.unpack_from("!Q", self.take(8))[0])

    def string(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolError("unterminated string")
        text = self.data[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return text

    def tuple(self) -> Tuple:
        # The hot loop of capture (every column of every change): offsets and struct, no helpers.
        data, pos = self.data, self.pos
        values: list[object] = []
        try:
            (count,) = _INT16.unpack_from(data, pos)
            pos += 2
            for _ in range(count):
                kind = data[pos]
                pos += 1
                if kind == 0x74 or kind == 0x62:  # t(ext) or b(inary)
                    (size,) = _INT32.unpack_from(data, pos)
                    pos += 4
                    end = pos + size
                    if size < 0 or end > len(data):
                        raise ProtocolError("message ends early")
                    values.append(data[pos:end].decode("utf-8") if kind == 0x74 else data[pos:end])
                    pos = end
                elif kind == 0x6E:  # n(ull)
                    values.append(None)
                elif kind == 0x75:  # u(nchanged TOAST)
                    values.append(UNCHANGED)
                else:
                    raise ProtocolError(f"unknown tuple column kind {chr(kind)!r}")
        except (struct.error, IndexError):
            raise ProtocolError("message ends early") from None
        self.pos = pos
        return tuple(values)


def parse(data: bytes) -> Message:
    """One pgoutput message (the payload of an XLogData record)."""
    r = _Reader(data)
    kind = r.byte()
    if kind == "B":
        return Begin(final_lsn=r.uint64(), commit_time_us=r.int64(), xid=r.uint32())
    if kind == "C":
        r.take(1)  # flags, unused
        return Commit(commit_lsn=r.uint64(), end_lsn=r.uint64(), commit_time_us=r.int64())
    if kind == "R":
        oid = r.uint32()
        schema, name = r.string(), r.string()
        identity = r.byte()
        columns = []
        for _ in range(r.int16()):
            flags = r.take(1)[0]
            col_name = r.string()
            type_oid = r.uint32()
            r.int32()  # typmod
            columns.append(Column(col_name, type_oid, bool(flags & 1)))
        return Relation(oid, schema, name, identity, tuple(columns))
    if kind == "I":
        oid = r.uint32()
        if r.byte() != "N":
            raise ProtocolError("insert without a new tuple")
        return Insert(oid, r.tuple())
    if kind == "U":
        oid = r.uint32()
        marker = r.byte()
        old: Tuple | None = None
        key_only = False
        if marker in ("K", "O"):
            old, key_only = r.tuple(), marker == "K"
            marker = r.byte()
        if marker != "N":
            raise ProtocolError("update without a new tuple")
        return Update(oid, old, key_only, r.tuple())
    if kind == "D":
        oid = r.uint32()
        marker = r.byte()
        if marker not in ("K", "O"):
            raise ProtocolError("delete without an old tuple")
        return Delete(oid, r.tuple(), marker == "K")
    if kind == "T":
        count = r.int32()
        options = r.take(1)[0]  # 1: CASCADE, 2: RESTART IDENTITY
        oids = tuple(r.uint32() for _ in range(count))
        return Truncate(oids, bool(options & 1), bool(options & 2))
    if kind in ("O", "Y", "M"):
        return Other(kind)
    raise ProtocolError(f"unknown pgoutput message {kind!r}")

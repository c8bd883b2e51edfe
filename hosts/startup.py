"""Just enough of the Postgres wire protocol to route a connection: the client's first message
(SSLRequest, GSSENCRequest, CancelRequest or StartupMessage), the server's BackendKeyData and
ReadyForQuery during the handshake, and an ErrorResponse to refuse with.

Every message the client sends first is `int32 length` (itself included) then `int32 code`; there is
no type byte yet. The server's messages are `byte type`, `int32 length` (without the type), body.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_MAJOR = 3
MAX_STARTUP_LENGTH = 10_000  # what the server itself accepts

READY_FOR_QUERY = ord("Z")
BACKEND_KEY_DATA = ord("K")


class StartupError(ValueError):
    """The client's first message is malformed or refused; `sqlstate` goes into the ErrorResponse."""

    def __init__(self, message: str, sqlstate: str = "08P01") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class SslRequest:
    pass


@dataclass(frozen=True)
class GssEncRequest:
    pass


@dataclass(frozen=True)
class CancelRequest:
    pid: int
    key: int


@dataclass(frozen=True)
class Startup:
    protocol: int
    params: dict[str, str] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return self.params["user"]

    @property
    def database(self) -> str:
        # Postgres defaults the database to the user name.
        return self.params.get("database") or self.params["user"]


FirstMessage = SslRequest | GssEncRequest | CancelRequest | Startup


def first_message_length(buffer: bytes | bytearray) -> int | None:
    """The length of the client message at the start of `buffer`, None until 4 bytes are there."""
    if len(buffer) < 4:
        return None
    (length,) = struct.unpack_from("!i", buffer)
    if length < 8 or length > MAX_STARTUP_LENGTH:
        raise StartupError(f"invalid length of startup packet ({length} bytes)")
    return int(length)


def parse_first_message(message: bytes) -> FirstMessage:
    """Parse one complete client-first message (its length already checked)."""
    length = first_message_length(message)
    if length is None or length != len(message):
        raise StartupError("incomplete startup packet")
    (code,) = struct.unpack_from("!i", message, 4)
    if code == SSL_REQUEST and length == 8:
        return SslRequest()
    if code == GSSENC_REQUEST and length == 8:
        return GssEncRequest()
    if code == CANCEL_REQUEST and length == 16:
        pid, key = struct.unpack_from("!ii", message, 8)
        return CancelRequest(pid, key)
    if code >> 16 != PROTOCOL_MAJOR:
        raise StartupError(
            f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: server supports 3.0 to 3.0",
            "0A000",
        )
    return Startup(code, _parameters(message[8:]))


def _parameters(body: bytes) -> dict[str, str]:
    # name\0value\0 ... \0: each string ends in a NUL, and one more NUL ends the list.
    if body == b"\x00":
        parts: list[bytes] = []
    elif body.endswith(b"\x00\x00"):
        parts = body[:-2].split(b"\x00")
    else:
        raise StartupError("invalid startup packet layout: expected terminator as last byte")
    if len(parts) % 2:
        raise StartupError("invalid startup packet layout: a parameter has no value")
    params: dict[str, str] = {}
    for name, value in zip(parts[::2], parts[1::2], strict=True):
        try:
            params[name.decode()] = value.decode()
        except UnicodeDecodeError:
            raise StartupError("invalid startup packet: parameters must be UTF-8") from None
    if not params.get("user"):
        raise StartupError("no PostgreSQL user name specified in startup packet", "28000")
    return params


def startup_message(params: dict[str, str], protocol: int = PROTOCOL_MAJOR << 16) -> bytes:
    """Encode a StartupMessage (for tests and tools)."""
    body = b"".join(k.encode() + b"\x00" + v.encode() + b"\x00" for k, v in params.items()) + b"\x00"
    return struct.pack("!ii", 8 + len(body), protocol) + body


def cancel_request(pid: int, key: int) -> bytes:
    return struct.pack("!iiii", 16, CANCEL_REQUEST, pid, key)


def error_response(sqlstate: str, message: str, detail: str = "", severity: str = "FATAL") -> bytes:
    """An ErrorResponse as the server would send it; clients show `message` (and `detail`) to their user."""
    parts = [(b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", message)]
    if detail:
        parts.append((b"D", detail))
    fields = b"".join(tag + text.encode() + b"\x00" for tag, text in parts)
    body = fields + b"\x00"
    return b"E" + struct.pack("!i", 4 + len(body)) + body


@dataclass
class HandshakeWatcher:
    """Follows the server's messages until the first ReadyForQuery, noting BackendKeyData on the way.

    Fed the server's bytes as they come (in any chunking); after `done`, the proxy stops looking.
    """

    backend_key: tuple[int, int] | None = None
    done: bool = False
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        self._buffer += data
        for kind, body in self._messages():
            if kind == BACKEND_KEY_DATA and len(body) == 8:
                pid, key = struct.unpack("!ii", body)
                self.backend_key = (pid, key)
            elif kind == READY_FOR_QUERY:
                self.done = True
                self._buffer.clear()
                return

    def _messages(self) -> Iterator[tuple[int, bytes]]:
        while len(self._buffer) >= 5:
            (length,) = struct.unpack_from("!i", self._buffer, 1)
            if length < 4:
                # Not a Postgres server: stop watching rather than guess.
                self.done = True
                return
            if len(self._buffer) < 1 + length:
                return
            kind, body = self._buffer[0], bytes(self._buffer[5 : 1 + length])
            del self._buffer[: 1 + length]
            yield kind, body
